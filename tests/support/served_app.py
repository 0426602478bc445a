"""The whole application (collector, profile API, pages, resolver in process) served on loopback
over SQLite or PostgreSQL, with clients for its tracking API and its admin API."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import httpx

from audience.collector.app import build_parts, create_app
from audience.config import Settings
from audience.pages.login import login_page
from audience.resolution.backend import open_profile_store
from audience.serving.features import page_extensions, resolution_extensions
from audience.storage.backend import open_event_store
from postgres_db import fresh_schema
from support.admin_api import AdminApi
from support.live_server import LiveServer

ADMIN_TOKEN = "admin-token-of-the-served-app"
WRITE_KEY = "WK_SERVED_APP"
"""The write key of the app's one source, ``web``."""
BATCH = 1000
"""Messages per request of ``send``."""


@dataclass
class ServedApp:
    """A running application: ``tracking`` posts with the write key, ``admin`` reads."""

    url: str
    tracking: httpx.Client
    admin: AdminApi

    def send(self, *messages: dict[str, Any]) -> None:
        """Post ``messages`` through the tracking API, ``BATCH`` to a request, each accepted."""
        for start in range(0, len(messages), BATCH):
            batch = list(messages[start : start + BATCH])
            response = self.tracking.post("/v1/batch", json={"batch": batch})
            assert response.status_code == 200, response.text
            assert response.json() == {}

    def resolved(self, timeout: float = 30.0) -> None:
        """Wait (bounded) until the resolver has applied every stored event."""
        self.admin.wait_until_resolved(timeout)

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
def serve_app(
    data_dir: Path, backend: Literal["sqlite", "postgres"] = "sqlite"
) -> Iterator[ServedApp]:
    """Serve the application over ``backend`` (a fresh PostgreSQL schema for ``postgres``) with
    its data folder at ``data_dir``, until the block ends."""
    with ExitStack() as stack:
        settings = Settings(data_dir=data_dir, synchronous="normal")
        if backend == "postgres":
            settings = replace(settings, database_url=stack.enter_context(fresh_schema()))
        store = open_event_store(settings)
        store.create_source("web", WRITE_KEY)
        parts = build_parts(settings, store, admin_token=ADMIN_TOKEN, login_page=login_page)
        profiles = open_profile_store(settings)
        pages = page_extensions(
            settings, events=store, profiles=profiles, guard=parts.guard, proxies=parts.proxies
        )
        extensions = resolution_extensions(settings, profiles, store, parts.guard) + pages
        app = create_app(
            parts,
            routes=extensions.routes,
            components=extensions.components,
            children=extensions.children,
            close_store=True,
        )
        server = stack.enter_context(LiveServer(app))
        tracking = stack.enter_context(
            httpx.Client(base_url=server.url, auth=(WRITE_KEY, ""), timeout=60)
        )
        admin = stack.enter_context(AdminApi(server.url, ADMIN_TOKEN, timeout=60))
        yield ServedApp(server.url, tracking, admin)
