from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import orjson
import psycopg
import pytest

from audience.destinations.base import DestinationConfig
from audience.destinations.delivery_store import DeliveryStore
from audience.destinations.postgres_deliveries import PostgresDeliveryStore
from audience.destinations.sqlite_deliveries import SqliteDeliveryStore
from audience.storage import EventRecord, SqliteEventStore
from audience.storage.backend import EventStore
from audience.storage.postgres_events import PostgresEventStore
from postgres_db import fresh_schema
from support import Receiver

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

Query = Callable[[str], list[tuple[Any, ...]]]
"""Rows a SQL query gives in a test's warehouse; ``{schema}`` in it names the test's schema."""


def warehouse_at(
    kind: str, name: str, schema: str, folder: Path, **options: Any
) -> tuple[DestinationConfig, Query]:
    """A ``kind`` (``postgres`` or ``duckdb``) warehouse destination loading into ``schema``, and a
    query of it; with a ``people_schema`` option, ``{people}`` in the SQL names that schema."""
    names = {"{schema}": schema}
    if "people_schema" in options:
        names["{people}"] = str(options["people_schema"])

    def named(sql: str) -> str:
        for mark, value in names.items():
            sql = sql.replace(mark, value)
        return sql

    if kind == "postgres":
        config = DestinationConfig(
            name, "postgres", {"url": POSTGRES_URL, "schema": schema, **options}
        )

        def query_postgres(sql: str) -> list[tuple[Any, ...]]:
            with psycopg.connect(POSTGRES_URL) as connection:
                return connection.execute(named(sql)).fetchall()

        return config, query_postgres
    path = folder / "warehouse.duckdb"
    config = DestinationConfig(name, "duckdb", {"path": str(path), "schema": schema, **options})

    def query_duckdb(sql: str) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(path)) as connection:
            return connection.execute(named(sql)).fetchall()

    return config, query_duckdb


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """Every test that stores events or delivery state runs on both backends."""
    return str(request.param)


@pytest.fixture
def database_url(backend: str) -> Iterator[str | None]:
    """The URL of a fresh PostgreSQL schema for the postgres backend, ``None`` for SQLite."""
    if backend != "postgres":
        yield None
        return
    with fresh_schema() as url:
        yield url


@pytest.fixture
def location(data_dir: Path, database_url: str | None) -> list[str]:
    """The command-line options that point ``audience`` at this test's stores."""
    options = ["--data", str(data_dir)]
    return options if database_url is None else [*options, "--database-url", database_url]


@pytest.fixture
def event_store(data_dir: Path, database_url: str | None) -> Iterator[EventStore]:
    store: EventStore
    if database_url is None:
        store = SqliteEventStore.open(data_dir / "events.sqlite3")
    else:
        data_dir.mkdir(parents=True, exist_ok=True)
        store = PostgresEventStore.open(database_url)
    yield store
    store.close()


@pytest.fixture
def append(event_store: EventStore) -> Append:
    def append_messages(messages: Sequence[dict[str, Any]], source: str = "web") -> None:
        event_store.append([record(source, message) for message in messages]).result()

    return append_messages


@pytest.fixture
def open_delivery_store(data_dir: Path, database_url: str | None) -> Callable[[], DeliveryStore]:
    """Open another connection to this test's delivery state (the caller closes it)."""

    def opened() -> DeliveryStore:
        if database_url is None:
            return SqliteDeliveryStore.in_data_dir(data_dir)
        return PostgresDeliveryStore(database_url)

    return opened


@pytest.fixture
def delivery_store(open_delivery_store: Callable[[], DeliveryStore]) -> Iterator[DeliveryStore]:
    store = open_delivery_store()
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
