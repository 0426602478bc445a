from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from audience.destinations.state import SqliteDeliveryStore
from audience.storage import EventRecord, SqliteEventStore

from .receiver import Receiver

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def record(source: str, message: dict[str, Any]) -> EventRecord:
    """An enriched message as the collector commits it."""
    return EventRecord(
        source=source,
        message_id=message["messageId"],
        type=message["type"],
        user_id=message.get("userId"),
        anonymous_id=message.get("anonymousId"),
        event=message.get("event"),
        received_at=message["receivedAt"],
        timestamp=message.get("timestamp"),
        request_ip=None,
        message=orjson.dumps(message),
    )


def track(n: int, **fields: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "track",
        "event": "Clicked Email",
        "messageId": f"m-{n}",
        "userId": "12091906-01011992",
        "anonymousId": "a-1",
        "timestamp": "2026-11-29T12:00:00.000Z",
        "receivedAt": "2026-11-29T12:00:01.000Z",
        "sentAt": "2026-11-29T12:00:00.500Z",
        "context": {"traits": {"plan_id": "Paid, Tier 2"}, "library": {"name": "x"}},
        "properties": {"emailCampaign": "First Touch", "n": n},
    }
    message.update(fields)
    return message


Append = Callable[[Sequence[dict[str, Any]]], None]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def event_store(data_dir: Path) -> Iterator[SqliteEventStore]:
    store = SqliteEventStore.open(data_dir / "events.sqlite3")
    yield store
    store.close()


@pytest.fixture
def append(event_store: SqliteEventStore) -> Append:
    def append_messages(messages: Sequence[dict[str, Any]], source: str = "web") -> None:
        event_store.append([record(source, message) for message in messages]).result()

    return append_messages


@pytest.fixture
def delivery_store(data_dir: Path) -> Iterator[SqliteDeliveryStore]:
    store = SqliteDeliveryStore.in_data_dir(data_dir)
    yield store
    store.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.stop()


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A unique PostgreSQL schema name, dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def pg() -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        yield connection
