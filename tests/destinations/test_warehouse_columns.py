"""A loader remembers a schema's columns between batches, and never loads by stale ones."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from audience.clock import SystemClock
from audience.destinations.loaders import PostgresWarehouse
from audience.eventlog import StoredEvent

from .conftest import POSTGRES_URL, track


@pytest.fixture
def loaders(pg_schema: str) -> Iterator[tuple[PostgresWarehouse, PostgresWarehouse]]:
    """Two loaders of the same PostgreSQL schema, as two dispatchers of one destination."""
    first = PostgresWarehouse(POSTGRES_URL, SystemClock(), pg_schema)
    second = PostgresWarehouse(POSTGRES_URL, SystemClock(), pg_schema)
    yield first, second
    first.close()
    second.close()


def rows(pg: psycopg.Connection[Any], sql: str) -> list[tuple[Any, ...]]:
    return pg.execute(sql).fetchall()


def test_a_column_another_loader_added_keeps_its_type_in_the_next_batch(
    loaders: tuple[PostgresWarehouse, PostgresWarehouse],
    pg_schema: str,
    pg: psycopg.Connection[Any],
) -> None:
    """The other loader made ``size`` an integer: a text size is discarded, not typed anew."""
    first, second = loaders
    first.deliver([StoredEvent(1, "web", track(1))], "b1")
    first.deliver([StoredEvent(4, "web", track(4))], "b4")  # no new column: remembered
    second.deliver([StoredEvent(2, "web", track(2, properties={"size": 5}))], "b2")

    first.deliver([StoredEvent(3, "web", track(3, properties={"size": "large"}))], "b3")

    assert rows(pg, f"SELECT id, size FROM {pg_schema}.clicked_email ORDER BY id") == [
        ("m-1", None),
        ("m-2", 5),
        ("m-3", None),
        ("m-4", None),
    ]
    assert rows(pg, f"SELECT id, column_value FROM {pg_schema}.discards") == [
        ("m-3:clicked_email:size", "large")
    ]


def test_a_table_dropped_by_hand_between_batches_is_made_again(
    loaders: tuple[PostgresWarehouse, PostgresWarehouse],
    pg_schema: str,
    pg: psycopg.Connection[Any],
) -> None:
    loader, _ = loaders
    loader.deliver([StoredEvent(1, "web", track(1))], "b1")
    loader.deliver([StoredEvent(3, "web", track(3))], "b3")  # no new column: remembered
    pg.execute(f"DROP TABLE {pg_schema}.clicked_email")

    loader.deliver([StoredEvent(2, "web", track(2))], "b2")

    assert rows(pg, f"SELECT id, n FROM {pg_schema}.clicked_email") == [("m-2", 2)]
    assert rows(pg, f"SELECT id FROM {pg_schema}.tracks ORDER BY id") == [
        ("m-1",),
        ("m-2",),
        ("m-3",),
    ]
