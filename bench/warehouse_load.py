"""Warehouse load rows/s: stored events -> dispatcher -> tables in PostgreSQL and in DuckDB.

Run: .venv/bin/python bench/warehouse_load.py [--events N] [--batch-size N]

Events (tracks of five event names with ten properties, identifies of 2,000 users,
pages; every context carries traits) are committed to a real SQLite event store, then one
dispatcher loads them into each warehouse in batches. A track writes two rows (``tracks``
and its event table), an identify two (``identifies`` and the ``users`` upsert). The bound
printed beside each figure is the same number of rows, of the same width, written by
the database's fastest bulk path (PostgreSQL ``COPY``, DuckDB ``INSERT ... SELECT`` from
``range``), with no flattening, typing or deduplication. The time the dispatcher spends
reading the event log, part of every load, is printed first on its own.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import duckdb
import orjson
import psycopg

from audience.clock import SystemClock
from audience.destinations.base import DestinationConfig, DestinationPolicy
from audience.destinations.dispatcher import Dispatcher
from audience.destinations.sqlite_deliveries import SqliteDeliveryStore
from audience.storage import EventRecord, SqliteEventStore

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
EVENT_NAMES = ["Product Viewed", "Product Added", "Checkout Started", "Order Completed", "Search"]


def message(n: int) -> dict[str, Any]:
    when = f"2026-11-29T12:{n // 60 % 60:02d}:{n % 60:02d}.000Z"
    base: dict[str, Any] = {
        "messageId": f"m-{n}",
        "anonymousId": f"a-{n % 5000}",
        "userId": f"u-{n % 2000}",
        "timestamp": when,
        "receivedAt": when,
        "sentAt": when,
        "context": {
            "ip": "10.0.0.1",
            "library": {"name": "analytics.js", "version": "next-0.5.11"},
            "page": {"path": "/shop", "url": "https://example.com/shop"},
            "traits": {"plan_id": "Paid, Tier 2"},
        },
    }
    kind = n % 10
    if kind == 0:
        traits = {"email": f"u{n % 2000}@example.com", "plan_id": "pro", "logins": n}
        return {**base, "type": "identify", "traits": traits}
    if kind == 1:
        return {**base, "type": "page", "name": "Shop", "properties": {"path": "/shop"}}
    properties = {
        "sku": f"SKU-{n % 300}",
        "price": 9.99 + n % 7,
        "quantity": 1 + n % 3,
        "currency": "EUR",
        "category": "books",
        "coupon": None,
        "in_stock": True,
        "tags": ["a", "b"],
        "cart": {"total": 20.5, "items": 2},
        "position": n % 12,
    }
    return {**base, "type": "track", "event": EVENT_NAMES[n % 5], "properties": properties}


def fill(store: SqliteEventStore, count: int) -> None:
    for start in range(0, count, 2000):
        records = []
        for n in range(start, min(count, start + 2000)):
            item = message(n)
            records.append(
                EventRecord(
                    "bench",
                    item["messageId"],
                    item["type"],
                    item.get("userId"),
                    item.get("anonymousId"),
                    item.get("event"),
                    item["receivedAt"],
                    item["timestamp"],
                    None,
                    orjson.dumps(item),
                )
            )
        store.append(records).result()


def rows_for(count: int) -> int:
    """Rows the load writes: two per track and identify, one per page."""
    return sum(1 if n % 10 == 1 else 2 for n in range(count))


def load(events: SqliteEventStore, folder: Path, config: DestinationConfig) -> float:
    state = SqliteDeliveryStore.open(folder / f"{config.name}.sqlite3")
    state.add(config, 0, 0.0)
    dispatcher = Dispatcher(events, state, SystemClock())
    started = time.perf_counter()
    try:
        while dispatcher.step():
            pass
    finally:
        dispatcher.close()
    elapsed = time.perf_counter() - started
    stats = state.stats(config.name)
    state.close()
    if stats.delivered_events != events.last_seq() or stats.dead_events:
        raise SystemExit(f"{config.name}: only {stats.delivered_events} events delivered")
    return elapsed


def read_alone(events: SqliteEventStore, batch_size: int) -> float:
    """Seconds the dispatcher's reads of the event log take on their own (part of every load)."""
    started = time.perf_counter()
    seq = 0
    while batch := events.read_after(seq, batch_size):
        seq = batch[-1].seq
    return time.perf_counter() - started


def postgres_copy_bound(rows: int, width: int) -> float:
    schema = f"bench_copy_{uuid.uuid4().hex[:8]}"
    columns = ", ".join(f"c{i} text" for i in range(width))
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
        try:
            connection.execute(f"CREATE TABLE {schema}.t (id text PRIMARY KEY, {columns})")
            started = time.perf_counter()
            with connection.cursor() as cursor, cursor.copy(f"COPY {schema}.t FROM STDIN") as copy:
                for n in range(rows):
                    copy.write_row([f"r-{n}", *(f"value {i}" for i in range(width))])
            return time.perf_counter() - started
        finally:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")


def duckdb_bound(path: Path, rows: int, width: int) -> float:
    values = ", ".join(f"'value {i}' AS c{i}" for i in range(width))
    with duckdb.connect(str(path)) as connection:
        columns = ", ".join(f"c{i} VARCHAR" for i in range(width))
        connection.execute(f"CREATE TABLE t (id VARCHAR PRIMARY KEY, {columns})")
        started = time.perf_counter()
        connection.execute(
            f"INSERT INTO t SELECT 'r-' || range::VARCHAR, {values} FROM range({rows})"
        )
        return time.perf_counter() - started


def report(name: str, rows: int, events: int, seconds: float, bound: str) -> None:
    print(
        f"{name:<10}  {rows / seconds:>9,.0f} rows/s  ({events / seconds:,.0f} events/s)   "
        f"bound, same rows by {bound}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args()
    rows = rows_for(args.events)
    width = 25  # about the width of an event table row here
    delivery = DestinationPolicy(max_attempts=3, batch_size=args.batch_size)
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        events = SqliteEventStore.open(folder / "events.sqlite3", synchronous="normal")
        try:
            fill(events, args.events)
            print(f"{args.events} events ({rows} rows), batches of {args.batch_size}")
            reading = read_alone(events, args.batch_size)
            print(
                f"reading the event log alone: {reading:.2f} s "
                f"({args.events / reading:,.0f} events/s, {rows / reading:,.0f} rows/s)"
            )
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            options = {"url": POSTGRES_URL, "schema": schema}
            try:
                seconds = load(
                    events, folder, DestinationConfig("pg", "postgres", options, delivery=delivery)
                )
            finally:
                with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
                    connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            bound = postgres_copy_bound(rows, width)
            report("PostgreSQL", rows, args.events, seconds, f"COPY, {rows / bound:,.0f} rows/s")
            options = {"path": str(folder / "warehouse.duckdb"), "schema": "bench"}
            seconds = load(
                events, folder, DestinationConfig("duck", "duckdb", options, delivery=delivery)
            )
            bound = duckdb_bound(folder / "bound.duckdb", rows, width)
            report(
                "DuckDB",
                rows,
                args.events,
                seconds,
                f"INSERT ... SELECT, {rows / bound:,.0f} rows/s",
            )
        finally:
            events.close()


if __name__ == "__main__":
    main()
