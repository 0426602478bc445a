"""Factories for collector tests: a store in a temporary folder and the app over it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from collector_support import ADMIN_TOKEN, WRITE_KEY

from audience.collector.app import build_parts, create_app
from audience.collector.parts import CollectorParts
from audience.config import Settings
from audience.pages.login import login_page
from audience.storage.sqlite_events import SqliteEventStore
from audience.testing import CountingIds, FakeClock
from support import LiveServer


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteEventStore]:
    with SqliteEventStore.open(tmp_path / "events.sqlite3", synchronous="normal") as opened:
        opened.create_source("default", WRITE_KEY)
        yield opened


@pytest.fixture
def make_parts(store: SqliteEventStore, tmp_path: Path) -> Callable[..., CollectorParts]:
    def make(**settings: Any) -> CollectorParts:
        configured = replace(Settings(data_dir=tmp_path), **settings)
        return build_parts(
            configured,
            store,
            admin_token=ADMIN_TOKEN,
            login_page=login_page,
            clock=FakeClock(),
            ids=CountingIds(),
        )

    return make


@pytest.fixture
def make_client(
    make_parts: Callable[..., CollectorParts],
) -> Iterator[Callable[..., httpx.Client]]:
    """Serves a collector app on loopback and returns an HTTP client for it."""
    opened: list[tuple[LiveServer, httpx.Client]] = []

    def make(**settings: Any) -> httpx.Client:
        server = LiveServer(create_app(make_parts(**settings)))
        server.start()
        client = httpx.Client(base_url=server.url, timeout=30)
        opened.append((server, client))
        return client

    yield make
    for server, client in opened:
        client.close()
        server.stop()


@pytest.fixture
def client(make_client: Callable[..., httpx.Client]) -> httpx.Client:
    return make_client()


@pytest.fixture
def stored() -> Callable[..., list[dict[str, Any]]]:
    """Reads the stored messages, newest first, through the admin API."""

    def read(client: httpx.Client, **query: str) -> list[dict[str, Any]]:
        response = client.get(
            "/api/events", params=query, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        assert response.status_code == 200, response.text
        events: list[dict[str, Any]] = response.json()["events"]
        return events

    return read
