"""The interop harness: a real ``audience serve`` process, a site on another origin, the admin API.

Everything here runs for real on loopback: the collector is the installed ``audience`` command in a
subprocess with its own data folder, the site is a small HTTP server that pages are loaded from
(``http://localhost:PORT``, a different origin from the collector on ``127.0.0.1``), and the admin
client reads stored events back over HTTP. Test folders import these classes directly or use the
fixtures in ``interop.fixtures``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

INTEROP_DIR = Path(__file__).resolve().parent
JS_DIR = INTEROP_DIR / "js"
PAGES_DIR = INTEROP_DIR / "pages"
NODE_MODULES = JS_DIR / "node_modules"
LATEST_NODE_MODULES = INTEROP_DIR / "js-latest" / "node_modules"
CIO_PACKAGE = "@customerio/cdp-analytics-browser"
SEGMENT_PACKAGE = "@segment/analytics-next"


@dataclass(frozen=True)
class ClientPackages:
    """One install of both browser clients' npm packages: the pinned one or the latest releases."""

    label: str
    node_modules: Path

    def bundle(self, package: str) -> Path:
        """The ``dist/umd`` folder of ``package``: its snippet build and its npm build."""
        return self.node_modules / package / "dist" / "umd"

    def version(self, package: str) -> str:
        """The installed version of ``package``."""
        manifest = json.loads((self.node_modules / package / "package.json").read_text())
        version: str = manifest["version"]
        return version

    def missing(self) -> list[Path]:
        """The client builds that are not installed."""
        folders = [self.bundle(CIO_PACKAGE), self.bundle(SEGMENT_PACKAGE)]
        return [folder for folder in folders if not (folder / "standalone.js").is_file()]


PINNED_PACKAGES = ClientPackages("pinned", NODE_MODULES)
LATEST_PACKAGES = ClientPackages("latest", LATEST_NODE_MODULES)
CIO_BROWSER_BUNDLE = PINNED_PACKAGES.bundle(CIO_PACKAGE)
SEGMENT_BROWSER_BUNDLE = PINNED_PACKAGES.bundle(SEGMENT_PACKAGE)

CHROMIUM_EXECUTABLE = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

STARTUP_SECONDS = 30.0
STOP_SECONDS = 10.0
POLL_SECONDS = 0.05


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def audience_command() -> list[str]:
    """The installed ``audience`` console script of the running interpreter's environment."""
    script = Path(sys.executable).with_name("audience")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from audience.cli import main; main()"]


class ServerFailedError(RuntimeError):
    """``audience serve`` exited or never answered; the message carries its log."""


@dataclass
class AudienceServer:
    """One ``audience serve`` subprocess on 127.0.0.1 with a data folder of its own.

    ``sources`` maps source names to write keys; they are created with ``audience sources
    create`` before the first start. ``start``/``stop`` can be called again (a restart keeps the
    data folder), and ``kill`` sends SIGKILL for crash tests. Output goes to ``log_path``.
    """

    data_dir: Path
    sources: Mapping[str, str]
    admin_token: str
    log_path: Path
    browser_bundles: Sequence[Path] = ()
    port: int = field(default_factory=free_port)
    extra_args: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    log_mark: int = field(default=0, init=False, repr=False)
    """Where the log stood when the last test finished: a failing test reports what follows."""
    _sources_created: bool = field(default=False, init=False, repr=False)

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``: the host the clients are configured with."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self.host}"

    @property
    def write_key(self) -> str:
        """The write key of the first source."""
        return next(iter(self.sources.values()))

    def _env(self) -> dict[str, str]:
        # Settings of the developer's own collector must not leak into the one under test.
        env = {
            name: value for name, value in os.environ.items() if not name.startswith("AUDIENCE_")
        }
        env["AUDIENCE_ADMIN_TOKEN"] = self.admin_token
        env["PYTHONUNBUFFERED"] = "1"
        env.update(self.env)
        return env

    def _run_cli(self, args: Sequence[str]) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"$ audience {' '.join(args)}\n".encode())
            log.flush()
            completed = subprocess.run(
                [*audience_command(), *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._env(),
                timeout=STARTUP_SECONDS,
                check=False,
            )
        if completed.returncode != 0:
            raise ServerFailedError(
                f"audience {' '.join(args)} exited with {completed.returncode}\n{self.log()}"
            )

    def create_sources(self) -> None:
        """Create every source in ``sources`` with its fixed write key (once per data folder)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for name, key in self.sources.items():
            self._run_cli(
                ["sources", "create", name, "--write-key", key, "--data", str(self.data_dir)]
            )
        self._sources_created = True

    def serve_args(self) -> list[str]:
        """The ``audience serve`` arguments this server runs with."""
        args = ["serve", "--data", str(self.data_dir), "--host", "127.0.0.1"]
        args += ["--port", str(self.port)]
        for folder in self.browser_bundles:
            args += ["--browser-bundle", str(folder)]
        return [*args, *self.extra_args]

    def start(self) -> None:
        """Start serving and return once ``/healthz`` answers 200."""
        if self.process is not None and self.process.poll() is None:
            return
        if not self._sources_created:
            self.create_sources()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"$ audience {' '.join(self.serve_args())}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [*audience_command(), *self.serve_args()],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._env(),
                start_new_session=True,
            )
        self._wait_until_healthy()

    def _wait_until_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        with httpx.Client(timeout=2.0) as http:
            while time.monotonic() < deadline:
                if self.process is None or self.process.poll() is not None:
                    code = None if self.process is None else self.process.returncode
                    raise ServerFailedError(f"audience serve exited with {code}\n{self.log()}")
                with contextlib.suppress(httpx.TransportError):
                    if http.get(f"{self.url}/healthz").status_code == 200:
                        return
                time.sleep(POLL_SECONDS)
        self.stop()
        raise ServerFailedError(f"audience serve did not answer /healthz in time\n{self.log()}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within a few seconds."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_SECONDS)

    def kill(self) -> None:
        """SIGKILL the server, as a crash would."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.kill()
        process.wait(timeout=STOP_SECONDS)

    def log(self) -> str:
        """Everything the server and the CLI have printed so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_size(self) -> int:
        """The log's current length in bytes, to cut out what one test produced."""
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def log_since(self, offset: int) -> str:
        """The log written after ``offset`` bytes."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(offset)
                return log.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def admin(self) -> AdminApi:
        """A new admin API client (close it, or use it as a context manager)."""
        return AdminApi(self.url, self.admin_token)


class EventsNotStoredError(AssertionError):
    """The expected events did not show up in the admin API."""


class AdminApi:
    """The collector's admin read API over HTTP, with the admin bearer token."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10.0
        )

    def __enter__(self) -> AdminApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connections."""
        self.http.close()

    def events(self, source: str, limit: int = 1000, **filters: str) -> list[dict[str, Any]]:
        """``GET /api/events``: stored messages of ``source``, newest first.

        ``filters`` are the API's query filters: ``type``, ``userId``, ``anonymousId``, ``event``.
        """
        response = self.http.get(
            "/api/events", params={"source": source, "limit": str(limit), **filters}
        )
        response.raise_for_status()
        events: list[dict[str, Any]] = response.json()["events"]
        return events

    def wait_for_events(
        self,
        source: str,
        count: int,
        *,
        where: Callable[[dict[str, Any]], bool] = lambda event: True,
        timeout: float = 15.0,
        **filters: str,
    ) -> list[dict[str, Any]]:
        """Poll until ``count`` stored events of ``source`` match; return them oldest first.

        Clients deliver in the background, so a test waits for what it sent to arrive. The
        loop is bounded by ``timeout``; on expiry it fails showing what was stored.
        """
        deadline = time.monotonic() + timeout
        matching: list[dict[str, Any]] = []
        while True:
            matching = [e for e in self.events(source, limit=1000, **filters) if where(e)]
            if len(matching) >= count or time.monotonic() >= deadline:
                break
            time.sleep(POLL_SECONDS * 4)
        if len(matching) < count:
            raise EventsNotStoredError(
                f"expected {count} events in source {source!r}, found {len(matching)}: {matching}"
            )
        return list(reversed(matching))

    def wait_for_message_ids(
        self, source: str, message_ids: Sequence[str], *, timeout: float = 15.0
    ) -> dict[str, dict[str, Any]]:
        """Wait until every one of ``message_ids`` is stored; return them by messageId, in the
        order of ``message_ids``."""
        wanted = set(message_ids)
        stored = self.wait_for_events(
            source,
            len(wanted),
            where=lambda event: event.get("messageId") in wanted,
            timeout=timeout,
        )
        by_id = {event["messageId"]: event for event in stored}
        missing = wanted - by_id.keys()
        if missing:
            raise EventsNotStoredError(f"not stored in source {source!r}: {sorted(missing)}")
        return {message_id: by_id[message_id] for message_id in message_ids}


@dataclass(frozen=True)
class StaticFile:
    """A file the site serves and its content type."""

    path: Path
    content_type: str


@dataclass(frozen=True)
class SiteRequest:
    """A GET request a site handler answers: its path (with query) and headers."""

    path: str
    headers: Mapping[str, str]

    def cookies(self) -> dict[str, str]:
        """The ``Cookie`` header as a name -> raw value mapping."""
        jar: dict[str, str] = {}
        for part in self.headers.get("Cookie", "").split(";"):
            name, separator, value = part.strip().partition("=")
            if separator:
                jar[name] = value
        return jar


SiteHandler = Callable[[SiteRequest], tuple[int, list[tuple[str, str]], bytes]]
"""Answers a site request with (status, headers, body)."""


CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".map": "application/json",
    ".json": "application/json",
}


class StaticSite:
    """A tiny HTTP server for test pages, reached as ``http://localhost:PORT``.

    ``mounts`` maps URL prefixes to folders (``{"/": PAGES_DIR, "/analytics-next/bundles/": ...}``)
    and ``routes`` maps exact URL paths to files; ``handlers`` answer exact paths with code, as
    the site's own backend would. HTML and JSON files have ``{{name}}``
    placeholders replaced from ``values``, which is how a page learns the collector's address and
    write key. Every request path is recorded in ``requests``.
    """

    def __init__(
        self,
        mounts: Mapping[str, Path],
        values: Mapping[str, str],
        routes: Mapping[str, Path] | None = None,
    ) -> None:
        self.mounts = dict(sorted(mounts.items(), key=lambda item: -len(item[0])))
        self.routes = dict(routes or {})
        self.handlers: dict[str, SiteHandler] = {}
        """Exact URL paths answered by code (a site's own backend), checked before files."""
        self.values = dict(values)
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        self.port: int = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        """``http://localhost:PORT``: another origin than the collector's ``127.0.0.1``."""
        return f"http://localhost:{self.port}"

    def url(self, path: str) -> str:
        """The full URL of ``path`` on this site."""
        return f"{self.origin}/{path.lstrip('/')}"

    def resolve(self, path: str) -> StaticFile | None:
        """The file a URL path maps to, or None (also for any path leaving its folder)."""
        clean = path.split("?", 1)[0].split("#", 1)[0]
        if clean in self.routes:
            routed = self.routes[clean]
            return StaticFile(routed, CONTENT_TYPES.get(routed.suffix, "application/octet-stream"))
        for prefix, folder in self.mounts.items():
            if not clean.startswith(prefix):
                continue
            relative = clean[len(prefix) :] or "index.html"
            candidate = (folder / relative).resolve()
            if candidate.is_relative_to(folder.resolve()) and candidate.is_file():
                return StaticFile(
                    candidate, CONTENT_TYPES.get(candidate.suffix, "application/octet-stream")
                )
        return None

    def render(self, static: StaticFile) -> bytes:
        """The bytes served for a file: pages and JSON get their placeholders filled."""
        body = static.path.read_bytes()
        if static.path.suffix not in {".html", ".json"}:
            return body
        text = body.decode()
        for name, value in self.values.items():
            text = text.replace("{{" + name + "}}", value)
        return text.encode()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class RequestHandler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with site._lock:
                    site.requests.append(self.path)
                handler = site.handlers.get(self.path.split("?", 1)[0])
                if handler is not None:
                    status, headers, content = handler(SiteRequest(self.path, dict(self.headers)))
                    self.send_response(status)
                    for name, value in headers:
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(content)))
                    self.end_headers()
                    self.wfile.write(content)
                    return
                static = site.resolve(self.path)
                if static is None:
                    self.send_error(404)
                    return
                body = site.render(static)
                self.send_response(200)
                self.send_header("Content-Type", static.content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        return RequestHandler

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=STOP_SECONDS)

    def __enter__(self) -> StaticSite:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def running(server: AudienceServer) -> Iterator[AudienceServer]:
    """Start ``server`` and stop it when the block ends, whatever happens."""
    try:
        server.start()
        yield server
    finally:
        server.stop()
