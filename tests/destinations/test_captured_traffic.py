"""Recorded traffic of the real browser source, through the real collector, into destinations.

``browser_flow_requests.jsonl`` holds the requests ``@customerio/cdp-analytics-browser``
sent while Chromium ran the seed's flow (page, tracks, identify, a track with
``options.traits``, reset, user switch, batching).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from audience.clock import SystemClock, UuidFactory
from audience.collector.ingest import Ingestor, Submission
from audience.destinations.base import DestinationConfig
from audience.destinations.delivery_store import DeliveryStore
from audience.destinations.dispatcher import Dispatcher
from audience.storage.backend import EventStore
from audience.tracking import MessageType
from support import Receiver

TABLES = ("pages", "tracks", "identifies")
REQUESTS = Path(__file__).with_name("browser_flow_requests.jsonl")
TYPES: dict[str, MessageType | None] = {
    "p": "page",
    "t": "track",
    "i": "identify",
    "g": "group",
    "a": "alias",
    "s": "screen",
    "b": None,
}


def captured() -> Iterator[tuple[str, dict[str, Any]]]:
    with REQUESTS.open() as lines:
        for line in lines:
            request = json.loads(line)
            yield request["path"].rsplit("/", 1)[1], request["body"]


@pytest.fixture
def ingested(event_store: EventStore) -> int:
    ingestor = Ingestor(event_store, clock=SystemClock(), ids=UuidFactory())
    stored = 0
    for route, body in captured():
        outcome = ingestor.ingest(Submission("web", body, TYPES[route], "203.0.113.9")).result()
        stored += outcome.stored
    return stored


def test_the_browser_flow_lands_in_warehouse_tables_with_context_traits(
    ingested: int,
    event_store: EventStore,
    delivery_store: DeliveryStore,
    tmp_path: Path,
) -> None:
    path = tmp_path / "warehouse.duckdb"
    delivery_store.add(DestinationConfig("lake", "duckdb", {"path": str(path)}), 0, 0.0)
    dispatcher = Dispatcher(event_store, delivery_store, SystemClock())
    try:
        for _ in range(20):
            dispatcher.step()
    finally:
        dispatcher.close()
    assert delivery_store.stats("lake").delivered_events == ingested

    with duckdb.connect(str(path)) as warehouse:

        def query(sql: str) -> list[tuple[Any, ...]]:
            return warehouse.execute(sql).fetchall()

        assert query("SELECT context_traits_plan_id FROM web.plan_selected") == [("Paid, Tier 2",)]
        assert query("SELECT DISTINCT event_text FROM web.tracks ORDER BY 1")[:3] == [
            ("After options.anonymousId",),
            ("After reload",),
            ("After setAnonymousId",),
        ]
        counts = [query(f"SELECT count(*) FROM web.{table}")[0][0] for table in TABLES]
        assert sum(counts) == ingested  # the flow sends pages, tracks and identifies only
        assert {row[0] for row in query("SELECT id FROM web.users")} == {"user_123", "user_456"}
        assert query("SELECT DISTINCT context_library_name FROM web.pages") == [("analytics.js",)]
        columns = {row[0] for row in query("DESCRIBE web.pages")}
        assert {"context_page_url", "context_user_agent", "url", "title"} <= columns


def test_the_browser_flow_reaches_a_webhook_without_context_traits(
    ingested: int,
    event_store: EventStore,
    delivery_store: DeliveryStore,
    receiver: Receiver,
) -> None:
    receiver.start()
    config = DestinationConfig("crm", "webhook", {"url": receiver.url, "secret": "k"})
    delivery_store.add(config, 0, 0.0)
    dispatcher = Dispatcher(event_store, delivery_store, SystemClock())
    try:
        for _ in range(20):
            dispatcher.step()
    finally:
        dispatcher.close()

    messages = [message for request in receiver.requests for message in request.batch]
    assert len(messages) == ingested
    (plan_selected,) = [m for m in messages if m.get("event") == "Plan Selected"]
    assert "traits" not in plan_selected["context"]
    assert plan_selected["userId"] == "user_123"
    assert all("traits" not in message["context"] for message in messages)
