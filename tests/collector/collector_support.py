"""Test doubles and constants of the collector tests: a fixed clock, counting ids, the keys."""

from __future__ import annotations

import itertools
import socket
import threading
import time
from datetime import UTC, datetime
from typing import Any

ADMIN_TOKEN = "admin-token-for-tests"
WRITE_KEY = "WK_TEST_123"
RECEIVED_AT = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)


class FixedClock:
    """A clock that stays where it is put."""

    def __init__(self, moment: datetime = RECEIVED_AT) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment

    def monotonic(self) -> float:
        return 0.0


class CountingIds:
    """Ids ``id-1``, ``id-2`` ..."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def new(self) -> str:
        return f"id-{next(self._counter)}"


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
