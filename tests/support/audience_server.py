"""``audience serve`` for real: the installed command in a subprocess, on a free loopback port,
with a data folder of its own and its output kept in a log file."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx

from support.admin_api import AdminApi
from support.ports import free_port
from support.processes import kill_process, stop_process

STARTUP_SECONDS = 60.0
"""Long enough for several servers starting at once on a busy machine."""
STOP_SECONDS = 15.0
"""``audience serve`` stops within 15 s of a SIGTERM; past that it is killed."""
POLL_SECONDS = 0.05


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
    """One ``audience serve`` subprocess on 127.0.0.1 with the data folder ``data_dir``.

    ``admin_token`` becomes ``AUDIENCE_ADMIN_TOKEN`` (left unset when ``None``, so the server
    generates and keeps its own). ``sources`` maps source names to write keys, created with
    ``audience sources create`` before the first start. ``extra_args`` follow the ``serve``
    arguments, ``env`` adds (or overrides) variables, and ``preexec_fn`` runs in the child before
    it starts (to set resource limits, say); the developer's own ``AUDIENCE_*`` settings never
    reach it. ``start``/``stop`` can be called again (a restart keeps the data folder), ``kill``
    sends SIGKILL for crash tests, and ``with`` starts and stops it. The server and the commands
    run for it write to ``log_path``.
    """

    data_dir: Path
    log_path: Path
    admin_token: str | None = None
    sources: Mapping[str, str] = field(default_factory=dict)
    browser_bundles: Sequence[Path] = ()
    extra_args: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    preexec_fn: Callable[[], None] | None = field(default=None, repr=False)
    port: int = field(default_factory=free_port)
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
        env["PYTHONUNBUFFERED"] = "1"
        if self.admin_token is not None:
            env["AUDIENCE_ADMIN_TOKEN"] = self.admin_token
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

    def run_command(self, args: Sequence[str]) -> None:
        """Run ``audience ARGS`` with this server's environment, its output in the log; fail
        with the log when it exits non-zero."""
        self._run_cli(args)

    def create_sources(self) -> None:
        """Create every source in ``sources`` with its fixed write key (once per data folder)."""
        if self.sources:
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

    def start(self, *, wait: bool = True) -> None:
        """Start serving and return once ``/healthz`` answers 200 (at once with ``wait=False``:
        then ``wait_until_healthy``)."""
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
                preexec_fn=self.preexec_fn,
                start_new_session=True,
            )
        if wait:
            self.wait_until_healthy()

    def wait_until_healthy(self) -> None:
        """Return once ``/healthz`` answers 200; fail with the log if the server exits first or
        takes longer than ``STARTUP_SECONDS``."""
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
        """SIGTERM, then SIGKILL if it has not exited within ``STOP_SECONDS``."""
        process, self.process = self.process, None
        stop_process(process, STOP_SECONDS)

    def kill(self) -> None:
        """SIGKILL the server, as a crash would."""
        process, self.process = self.process, None
        kill_process(process, STOP_SECONDS)

    def __enter__(self) -> AudienceServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def log(self) -> str:
        """Everything the server and the commands run for it have printed so far."""
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
        """A new admin API client with ``admin_token`` (close it, or use it as a context
        manager)."""
        if self.admin_token is None:
            raise ValueError("this server generates its own admin token: read it from log()")
        return AdminApi(self.url, self.admin_token)


@contextlib.contextmanager
def collectors_sharing(
    database_url: str, folder: Path, count: int, *, admin_token: str | None = None
) -> Iterator[list[str]]:
    """``count`` ``audience serve`` processes, as on as many hosts, sharing one PostgreSQL
    database; yields their URLs once every one answers, and stops them all at the end."""
    servers = [
        AudienceServer(
            folder / f"host-{number}",
            folder / f"host-{number}.log",
            admin_token=admin_token,
            extra_args=("--database-url", database_url),
            env={"AUDIENCE_LOG_LEVEL": "warning"},
        )
        for number in range(count)
    ]
    try:
        for server in servers:
            server.start(wait=False)
        for server in servers:
            server.wait_until_healthy()
        yield [server.url for server in servers]
    finally:
        for server in servers:
            server.stop()
