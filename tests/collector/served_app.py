"""The whole application (collector, profile API, pages, resolver in process) served on
loopback over SQLite or PostgreSQL, with clients for the tracking and the admin APIs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
from collector_support import ADMIN_TOKEN, WRITE_KEY, LiveServer

from audience.collector.app import build_parts, create_app
from audience.config import Settings
from audience.resolution.server import resolution_extensions
from audience.storage.backend import open_event_store
from postgres_db import fresh_schema

BATCH = 1000


class Collector:
    """The served application and an admin client for it."""

    def __init__(self, url: str) -> None:
        self.tracking = httpx.Client(base_url=url, auth=(WRITE_KEY, ""), timeout=60)
        self.admin = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=60
        )

    def send(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), BATCH):
            response = self.tracking.post(
                "/v1/batch", json={"batch": messages[start : start + BATCH]}
            )
            assert response.status_code == 200, response.text
            assert response.json() == {}

    def resolved(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.admin.get("/api/resolution").json()
            if status["lag"] == 0 and status["lastSeq"] > 0:
                return
            time.sleep(0.05)
        raise AssertionError("resolution did not catch up")

    def walk(self, path: str, **params: str) -> list[dict[str, Any]]:
        """Every page of a list, following ``next`` until it is null; the pages in order."""
        forward = "before" if path == "/api/events" else "after"
        pages = []
        cursor: str | None = None
        for _ in range(100):
            query = {**params, **({forward: cursor} if cursor else {})}
            response = self.admin.get(path, params=query)
            assert response.status_code == 200, response.text
            pages.append(response.json())
            cursor = pages[-1]["next"]
            if cursor is None:
                return pages
        raise AssertionError("the list did not end")


@contextmanager
def serve_collector(backend: str, tmp_path: Path) -> Iterator[Collector]:
    """Serve the application over ``backend`` (``sqlite`` or ``postgres``) until the block ends."""
    with ExitStack() as stack:
        settings = Settings(data_dir=tmp_path / "data", synchronous="normal")
        if backend == "postgres":
            settings = replace(settings, database_url=stack.enter_context(fresh_schema()))
        store = open_event_store(settings)
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
        server = LiveServer(app)
        server.start()
        stack.callback(server.stop)
        running = Collector(server.url)
        stack.callback(running.admin.close)
        stack.callback(running.tracking.close)
        yield running
