"""Times at the ends of the range load into the real PostgreSQL and DuckDB, and read back."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest

from audience.clock import SystemClock
from audience.destinations.flatten import ColumnType, cast, infer_type
from audience.destinations.loaders import DuckDBWarehouse, PostgresWarehouse
from audience.eventlog import StoredEvent
from audience.timestamps import EARLIEST, LATEST

from .conftest import POSTGRES_URL, track

Query = Callable[[str], list[tuple[Any, ...]]]

FIRST = "0001-01-01T00:00:00.000Z"
LAST = "9999-12-31T23:59:59.999Z"


def identify(n: int, timestamp: str, plan: str) -> dict[str, Any]:
    return {
        "type": "identify",
        "messageId": f"i-{n}",
        "userId": "user-1",
        "anonymousId": "a-1",
        "timestamp": timestamp,
        "receivedAt": "2026-11-29T12:00:01.000Z",
        "traits": {"plan": plan},
    }


EVENTS = [
    track(1, timestamp=FIRST, originalTimestamp=FIRST, sentAt=LAST),
    track(2, timestamp=LAST, originalTimestamp=LAST, sentAt=FIRST),
    track(
        3,
        properties={
            "renewsAt": "0001-01-01T00:00:00+01:00",
            "expiresAt": "9999-12-31T23:59:59-01:00",
        },
    ),
    identify(4, LAST, "max"),
    identify(5, FIRST, "free"),
]


@pytest.fixture(params=["postgres", "duckdb"])
def loaded(request: pytest.FixtureRequest, pg_schema: str, tmp_path: Path) -> Query:
    """``EVENTS`` loaded into a warehouse; queries read it with the session in UTC."""
    if request.param == "postgres":
        warehouse: Any = PostgresWarehouse(POSTGRES_URL, SystemClock(), pg_schema)

        def query(sql: str) -> list[tuple[Any, ...]]:
            with psycopg.connect(POSTGRES_URL) as connection:
                connection.execute("SET TIME ZONE 'UTC'")
                return connection.execute(sql.replace("{schema}", pg_schema)).fetchall()

    else:
        path = tmp_path / "warehouse.duckdb"
        warehouse = DuckDBWarehouse(str(path), SystemClock(), pg_schema)

        def query(sql: str) -> list[tuple[Any, ...]]:
            with duckdb.connect(str(path)) as connection:
                connection.execute("SET TimeZone = 'UTC'")
                return connection.execute(sql.replace("{schema}", pg_schema)).fetchall()

    warehouse.deliver([StoredEvent(n, "web", m) for n, m in enumerate(EVENTS, 1)], "batch-1")
    warehouse.close()
    return query


def test_warehouse_times_span_years_1_to_9999(loaded: Query) -> None:
    """PostgreSQL ``timestamptz`` and DuckDB ``TIMESTAMPTZ`` hold both ends of the range."""
    last = LATEST.replace(microsecond=999_000)
    rows = loaded(
        'SELECT id, "timestamp", original_timestamp, sent_at FROM "{schema}".tracks ORDER BY id'
    )
    assert rows == [
        ("m-1", EARLIEST, EARLIEST, last),
        ("m-2", last, last, EARLIEST),
        ("m-3", datetime(2026, 11, 29, 12, 0, tzinfo=UTC), None, _sent_at()),
    ]


def _sent_at() -> datetime:
    return datetime(2026, 11, 29, 12, 0, 0, 500_000, tzinfo=UTC)


def test_odd_property_times_are_stored_at_the_range_ends(loaded: Query) -> None:
    [(renews, expires)] = loaded(
        "SELECT renews_at, expires_at FROM \"{schema}\".clicked_email WHERE id = 'm-3'"
    )
    assert (renews, expires) == (EARLIEST, LATEST)


def test_the_users_row_keeps_the_traits_of_the_identify_at_the_end_of_time(loaded: Query) -> None:
    [(plan, timestamp)] = loaded('SELECT plan, "timestamp" FROM "{schema}".users')
    assert (plan, timestamp) == ("max", LATEST.replace(microsecond=999_000))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0001-01-01T00:00:00+01:00", EARLIEST),
        ("9999-12-31T23:59:59-01:00", LATEST),
        ("2016-12-31T23:59:60Z", datetime(2016, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)),
    ],
)
def test_a_property_time_past_the_range_is_cast_to_its_end(value: str, expected: datetime) -> None:
    assert infer_type(value) is ColumnType.TIMESTAMP
    assert cast(value, ColumnType.TIMESTAMP) == expected
