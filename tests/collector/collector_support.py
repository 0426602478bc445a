"""Test doubles and constants of the collector tests: a live server, `audience serve`, the keys."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

ADMIN_TOKEN = "admin-token-for-the-collector-tests"
WRITE_KEY = "WK_TEST_123"


class LiveServer:
    """An ASGI app served by uvicorn on a free loopback port, in a thread."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            loop="asyncio",
            http="h11",
            lifespan="on",
            log_level="warning",
            access_log=False,
            proxy_headers=False,  # as `audience serve`: the app decides forwarded headers
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ServeProcess:
    """``audience serve`` in a subprocess on a free port, its output kept in a file.

    ``AUDIENCE_ADMIN_TOKEN`` is ``admin_token`` (left unset when ``None``, so the server
    generates and keeps its own); ``env`` adds variables; ``preexec_fn`` runs in the child
    before it starts (to set resource limits, say).
    """

    def __init__(
        self,
        data_dir: Path,
        log_path: Path,
        *args: str,
        admin_token: str | None = ADMIN_TOKEN,
        env: Mapping[str, str] | None = None,
        preexec_fn: Callable[[], None] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.port = free_port()
        self.args = args
        self.admin_token = admin_token
        self.env = dict(env or {})
        self.preexec_fn = preexec_fn
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [
            str(Path(sys.executable).with_name("audience")),
            "serve",
            "--data",
            str(self.data_dir),
            "--port",
            str(self.port),
            *self.args,
        ]
        env = {
            name: value for name, value in os.environ.items() if not name.startswith("AUDIENCE_")
        }
        env.update(self.env, PYTHONUNBUFFERED="1")
        if self.admin_token is not None:
            env["AUDIENCE_ADMIN_TOKEN"] = self.admin_token
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                preexec_fn=self.preexec_fn,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"audience serve exited: {self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"audience serve did not answer: {self.log_path.read_text()}")

    def output(self) -> str:
        return self.log_path.read_text()

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.process = None
