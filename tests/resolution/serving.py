"""A real collector with resolution, its API and pages, served by uvicorn on a loopback port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from audience.collector.app import build_parts, create_app
from audience.config import Settings
from audience.resolution.server import resolution_extensions
from audience.storage.sqlite import SqliteEventStore

ADMIN_TOKEN = "resolution-admin-token"
WRITE_KEY = "WK_RESOLUTION_1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Served:
    """A running server and clients for its two audiences: tracking and the admin."""

    url: str
    tracking: httpx.Client
    admin: httpx.Client

    def send(self, *messages: dict[str, Any]) -> None:
        """Post messages through the tracking API as one batch."""
        response = self.tracking.post("/v1/batch", json={"batch": list(messages)})
        assert response.status_code == 200, response.text

    def resolved(self, timeout: float = 20.0) -> None:
        """Wait (bounded) until the resolver has applied every stored event."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.admin.get("/api/resolution").json()
            if status["lag"] == 0 and status["lastSeq"] > 0:
                return
            time.sleep(0.05)
        raise AssertionError("resolution did not catch up")


@contextmanager
def serve(data_dir: Path) -> Iterator[Served]:
    """Start ``audience serve``'s app (collector + resolution) over a fresh data folder."""
    import uvicorn

    settings = Settings(data_dir=data_dir, synchronous="normal")
    store = SqliteEventStore.open(settings.database_path, synchronous="normal")
    store.create_source("web", WRITE_KEY)
    parts = build_parts(settings, store, admin_token=ADMIN_TOKEN)
    extensions = resolution_extensions(parts)
    app = create_app(
        parts,
        routes=extensions.routes,
        components=extensions.components,
        children=extensions.children,
        close_store=True,
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            loop="asyncio",
            http="h11",
            lifespan="on",
            log_level="warning",
            access_log=False,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    url = f"http://127.0.0.1:{port}"
    tracking = httpx.Client(base_url=url, auth=(WRITE_KEY, ""), timeout=30)
    admin = httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30
    )
    try:
        yield Served(url, tracking, admin)
    finally:
        tracking.close()
        admin.close()
        server.should_exit = True
        thread.join(timeout=15)
