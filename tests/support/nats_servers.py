"""Real ``nats-server`` processes with JetStream for the log's tests: one server, or a
three-node cluster with routes, each on free loopback ports with its own store folder."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from support.ports import free_port
from support.processes import kill_process, stop_process

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"
STARTUP_SECONDS = 30.0
STOP_SECONDS = 10.0


@dataclass
class NatsServer:
    """One ``nats-server -js`` on 127.0.0.1; ``routes`` are the cluster ports of its peers.

    ``start`` returns once its ``/healthz`` answers ok (JetStream ready); ``kill`` sends
    SIGKILL; a restart keeps the store folder, so the server comes back with its streams.
    """

    name: str
    store_dir: Path
    log_path: Path
    port: int = field(default_factory=free_port)
    monitor_port: int = field(default_factory=free_port)
    cluster_port: int | None = None
    routes: Sequence[int] = ()
    process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        """``nats://127.0.0.1:PORT``, what ``--log`` is given."""
        return f"nats://127.0.0.1:{self.port}"

    def args(self) -> list[str]:
        args = [NATS_SERVER, "-js", "-a", "127.0.0.1", "-p", str(self.port)]
        args += ["-m", str(self.monitor_port), "-sd", str(self.store_dir), "-n", self.name]
        if self.cluster_port is not None:
            args += ["--cluster_name", "audience"]
            args += ["--cluster", f"nats://127.0.0.1:{self.cluster_port}"]
            args += ["--routes", ",".join(f"nats://127.0.0.1:{port}" for port in self.routes)]
        return args

    def start(self, *, wait: bool = True) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        self.store_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.args(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        if wait:
            self.wait_until_ready()

    def wait_until_ready(self) -> None:
        """Return once the server answers its health check; fail with its log otherwise."""
        deadline = time.monotonic() + STARTUP_SECONDS
        with httpx.Client(timeout=1.0) as http:
            while time.monotonic() < deadline:
                if self.process is None or self.process.poll() is not None:
                    raise RuntimeError(f"nats-server {self.name} exited\n{self.log()}")
                with contextlib.suppress(httpx.TransportError):
                    if http.get(f"http://127.0.0.1:{self.monitor_port}/healthz").is_success:
                        return
                time.sleep(0.05)
        raise RuntimeError(f"nats-server {self.name} did not get ready\n{self.log()}")

    def stop(self) -> None:
        process, self.process = self.process, None
        stop_process(process, STOP_SECONDS)

    def kill(self) -> None:
        """SIGKILL the server, as a crash would."""
        process, self.process = self.process, None
        kill_process(process, STOP_SECONDS)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


def log_url(servers: Sequence[NatsServer]) -> str:
    """The ``--log`` value naming every server: ``nats://a,nats://b,...``."""
    return ",".join(server.url for server in servers)


@contextlib.contextmanager
def nats_server(folder: Path, *, start: bool = True) -> Iterator[NatsServer]:
    """One JetStream server with its store under ``folder``; stopped at the end."""
    server = NatsServer("n1", folder / "n1", folder / "n1.log")
    try:
        if start:
            server.start()
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def nats_cluster(folder: Path, size: int = 3) -> Iterator[list[NatsServer]]:
    """A JetStream cluster of ``size`` servers routed to one another; stopped at the end."""
    cluster_ports = [free_port() for _ in range(size)]
    servers = [
        NatsServer(
            f"n{number + 1}",
            folder / f"n{number + 1}",
            folder / f"n{number + 1}.log",
            cluster_port=cluster_ports[number],
            routes=[port for index, port in enumerate(cluster_ports) if index != number],
        )
        for number in range(size)
    ]
    try:
        for server in servers:
            server.start(wait=False)
        for server in servers:
            server.wait_until_ready()
        yield servers
    finally:
        for server in servers:
            server.stop()
