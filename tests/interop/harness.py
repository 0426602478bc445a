"""The interop harness: the real clients' packages, Chromium, and a site on another origin.

The site is a small HTTP server that pages are loaded from (``http://localhost:PORT``, a different
origin from the collector on ``127.0.0.1``); the collector itself (``support.AudienceServer``) and
the admin client (``support.AdminApi``) come from the shared test kit. Test folders import these
classes directly or use the fixtures in ``interop.fixtures``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

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

STOP_SECONDS = 10.0


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
