"""An ASGI app served for real by uvicorn on a loopback port, in a thread of the test process."""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any

from support.ports import free_port

STARTUP_SECONDS = 15.0
STOP_SECONDS = 15.0


class LiveServer:
    """``app`` served by uvicorn (h11, lifespan on) on ``http://127.0.0.1:PORT``.

    ``start``/``stop``, or ``with LiveServer(app) as server``. Forwarded headers are left to the
    app, as ``audience serve`` does, unless ``proxy_headers``.
    """

    def __init__(self, app: Any, *, proxy_headers: bool = False) -> None:
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
            proxy_headers=proxy_headers,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Serve in the background; return once uvicorn has started (its lifespan too)."""
        self._thread.start()
        deadline = time.monotonic() + STARTUP_SECONDS
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        """Finish the requests in flight, run the lifespan's shutdown and stop."""
        self._server.should_exit = True
        self._thread.join(timeout=STOP_SECONDS)

    def __enter__(self) -> LiveServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
