"""Every kind of value a column holds reads back from PostgreSQL and DuckDB as it was cast."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest

from audience.clock import SystemClock
from audience.destinations.flatten import ColumnType, cast
from audience.destinations.loaders import DuckDBWarehouse, PostgresWarehouse, json_rows
from audience.destinations.warehouse import TableLoad
from audience.eventlog import StoredEvent

from .conftest import POSTGRES_URL, track

Query = Callable[[str], list[tuple[Any, ...]]]

TEXTS = ['quote " and \\ backslash', "tab\tnew\nline\r", "ünïcødé ✓ 😀", "", "null", "'; --"]
INTEGERS = [0, -1, 2**63 - 1, -(2**63), 42.0]
FLOATS = [0.1, -0.0, 1e-7, 1e300, 5e-324, 9.99 + 3, 7]
TIMES = [
    "2026-11-29T12:00:00Z",
    "2026-11-29T12:00:00.123456+05:30",
    "2026-11-29T12:00:00.5-03:00",
    "2026-11-29 12:00",
]
ARRAYS: list[Any] = [["a", "b"], [1, 2.5, None, True], [{"k": 1e16}], []]


def events() -> list[StoredEvent]:
    """One track per value; each property column takes its type from the first track."""
    values: list[dict[str, Any]] = []
    for column, cases in [
        ("text", TEXTS),
        ("integer", INTEGERS),
        ("number", FLOATS),
        ("flag", [True, False]),
        ("moment", TIMES),
        ("items", ARRAYS),
    ]:
        values.extend({column: case} for case in cases)
    return [
        StoredEvent(n, "web", track(n, properties={**v, "n": n})) for n, v in enumerate(values, 1)
    ]


def expected(column: str, column_type: ColumnType) -> list[Any]:
    """The cast value of ``column`` in every track, in ``id`` order (NULL where absent)."""
    cells = []
    for event in events():
        value = event.message["properties"].get(column)
        if isinstance(value, list):
            value = cast(value, ColumnType.STRING)
        cells.append(None if value is None else cast(value, column_type))
    return cells


@pytest.fixture(params=["postgres", "duckdb"])
def loaded(request: pytest.FixtureRequest, pg_schema: str, tmp_path: Path) -> Query:
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

    warehouse.deliver(events(), "batch-1")
    warehouse.close()
    return query


@pytest.mark.parametrize(
    ("column", "column_type"),
    [
        ("text", ColumnType.STRING),
        ("integer", ColumnType.INTEGER),
        ("number", ColumnType.FLOAT),
        ("flag", ColumnType.BOOLEAN),
        ("moment", ColumnType.TIMESTAMP),
        ("items", ColumnType.STRING),
    ],
)
def test_each_value_reads_back_exactly_as_it_was_cast(
    loaded: Query, column: str, column_type: ColumnType
) -> None:
    rows = loaded(f'SELECT "{column}" FROM "{{schema}}".clicked_email ORDER BY n')
    assert exactly([row[0] for row in rows]) == exactly(expected(column, column_type))


def exactly(cells: list[Any]) -> list[Any]:
    """Floats by their ``repr``, so that ``-0.0`` and ``0.0`` differ."""
    return [repr(cell) if isinstance(cell, float) else cell for cell in cells]


def test_the_shared_times_read_back_at_their_instant(loaded: Query) -> None:
    [(sent_at, received_at)] = loaded(
        "SELECT sent_at, received_at FROM \"{schema}\".tracks WHERE id = 'm-1'"
    )
    assert sent_at == datetime(2026, 11, 29, 12, 0, 0, 500_000, tzinfo=UTC)
    assert received_at == datetime(2026, 11, 29, 12, 0, 1, tzinfo=UTC)


def test_a_float_json_cannot_write_is_written_as_the_text_postgresql_reads() -> None:
    """``orjson`` would write ``null`` for the first three, and ``jsonb`` loses the sign of
    ``-0.0``; PostgreSQL reads the text as the float."""
    load = TableLoad(
        "t",
        ("id", "x", "at"),
        (ColumnType.STRING, ColumnType.FLOAT, ColumnType.TIMESTAMP),
        (
            ("a", math.inf, datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=1)))),
            ("b", -math.inf, None),
            ("c", math.nan, None),
            ("d", -0.0, None),
            ("e", 1.5, None),
        ),
    )
    assert json_rows(load) == (
        b'[["a","Infinity","2026-01-01T00:00:00+01:00"],["b","-Infinity",null],'
        b'["c","NaN",null],["d","-0",null],["e",1.5,null]]'
    )


def test_infinite_floats_load_into_postgresql_as_infinite(pg_schema: str) -> None:
    warehouse = PostgresWarehouse(POSTGRES_URL, SystemClock(), pg_schema)
    numbers = [1.5, math.inf, -math.inf, -0.0]
    warehouse.deliver(
        [
            StoredEvent(n, "web", track(n, properties={"x": x, "n": n}))
            for n, x in enumerate(numbers, 1)
        ],
        "batch-1",
    )
    warehouse.close()
    with psycopg.connect(POSTGRES_URL) as connection:
        rows = connection.execute(f'SELECT x FROM "{pg_schema}".clicked_email ORDER BY n')
        assert exactly([row[0] for row in rows]) == exactly(numbers)
