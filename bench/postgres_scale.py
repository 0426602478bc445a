"""PostgreSQL at scale: /v1/batch events/s with 1, 2 and 4 collector processes, ingestion with
millions of events already stored against an empty store, and the warehouse load rate.

Each collector process is one uvicorn worker of the collector application over the PostgreSQL
event store (``audience serve --workers N`` without the resolver and dispatcher, so the figure
is ingestion alone); load comes from the collector benchmark's generator processes over
loopback. Every figure is printed beside its peer or bound from the same run: the
single-process rate beside the 20,000 events/s target, the multi-process rates beside the
single one, the full-store rate beside the empty-store rate, and the bound of the database
alone (the same rows inserted with no HTTP).

    .venv/bin/python bench/postgres_scale.py [--seconds 10] [--stored 10000000]
        [--warehouse]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from collector_throughput import (
    ADMIN_TOKEN,
    SERVER_EVENT,
    WRITE_KEY,
    drive,
    free_port,
)

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
TARGET_ONE_PROCESS = 20_000
TARGET_FULL_STORE = 0.80


def schema_url(schema: str) -> str:
    return f"{POSTGRES}?options=-csearch_path%3D{schema}"


def collector_app() -> Any:
    """The collector alone over the PostgreSQL store named by the environment (one worker)."""
    from audience.collector.app import build_parts, create_app
    from audience.config import load_settings
    from audience.pages.login import login_page
    from audience.storage.postgres_events import PostgresEventStore

    settings = load_settings()
    assert settings.database_url is not None
    store = PostgresEventStore.open(settings.database_url)
    parts = build_parts(settings, store, admin_token=ADMIN_TOKEN, login_page=login_page)
    return create_app(parts, close_store=True)


def start_collectors(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "AUDIENCE_DATABASE_URL": url,
        "AUDIENCE_LOG_LEVEL": "warning",
        "PYTHONPATH": str(Path(__file__).resolve().parent),
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "postgres_scale:collector_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                time.sleep(1.0 + workers)  # let every worker finish starting
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the collectors did not start")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def fresh_schema(admin: psycopg.Connection[Any]) -> str:
    from audience.storage.postgres_events import PostgresEventStore

    name = f"bench_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE SCHEMA "{name}"')
    with PostgresEventStore.open(schema_url(name)) as store:
        store.create_source("bench", WRITE_KEY)
    return name


def preload(admin: psycopg.Connection[Any], schema: str, count: int) -> float:
    """Store ``count`` events straight into the table with generate_series; returns seconds."""
    sample = SERVER_EVENT % {"n": 0, "tag": "pre"}
    started = time.perf_counter()
    chunk = 1_000_000
    for first in range(1, count + 1, chunk):
        last = min(count, first + chunk - 1)
        admin.execute(
            f'INSERT INTO "{schema}".events (source, message_id, type, user_id, anonymous_id, '
            "event, received_at, timestamp, request_ip, message) "
            "SELECT 'bench', 'pre-' || g, 'track', 'user_' || (g %% 100000), NULL, "
            "'Order Completed', '2026-11-29T18:56:28.395Z', '2026-11-29T18:56:28.395Z', "
            "'127.0.0.1', convert_to(replace(%s, 'pre-0', 'pre-' || g), 'UTF8') "
            "FROM generate_series(%s::bigint, %s::bigint) AS g",
            (sample, first, last),
        )
        print(f"  stored {last:,} events ({time.perf_counter() - started:.0f} s)", flush=True)
    admin.execute(f'VACUUM ANALYZE "{schema}".events')
    return time.perf_counter() - started


def database_bound(schema: str, seconds: float) -> float:
    """The same rows appended by the store in one process with no HTTP: events/s."""
    from audience.storage.base import EventRecord
    from audience.storage.postgres_events import PostgresEventStore

    events = 0
    with PostgresEventStore.open(schema_url(schema)) as store:
        stop_at = time.perf_counter() + seconds
        started = time.perf_counter()
        batch = 0
        while time.perf_counter() < stop_at:
            records = []
            for i in range(2000):
                body = SERVER_EVENT % {"n": batch * 2000 + i, "tag": "bound"}
                message = orjson.loads(body)
                records.append(
                    EventRecord(
                        "bench",
                        message["messageId"],
                        "track",
                        message["userId"],
                        None,
                        message["event"],
                        "2026-11-29T18:56:28.395Z",
                        message["timestamp"],
                        "127.0.0.1",
                        body.encode(),
                    )
                )
            futures = [store.append(records[k : k + 100]) for k in range(0, 2000, 100)]
            events += sum(future.result().stored for future in futures)
            batch += 1
        return events / (time.perf_counter() - started)


def ingest(schema: str, workers: int, seconds: float, generators: int) -> dict[str, float]:
    port = free_port()
    process = start_collectors(schema_url(schema), port, workers)
    try:
        return drive("batch", port, seconds, generators, 16, None)
    finally:
        stop(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--stored", type=int, default=10_000_000)
    parser.add_argument("--generators", type=int, default=2)
    parser.add_argument("--warehouse", action="store_true", help="also run warehouse_load.py")
    args = parser.parse_args()

    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        schemas: list[str] = []
        try:
            print("\n/v1/batch events/s by collector processes (100 events a request)")
            rates: dict[int, float] = {}
            for workers in (1, 2, 4):
                schema = fresh_schema(admin)
                schemas.append(schema)
                result = ingest(schema, workers, args.seconds, args.generators)
                rates[workers] = result["events_per_s"]
                note = ""
                if workers == 1:
                    verdict = "met" if rates[1] >= TARGET_ONE_PROCESS else "NOT met"
                    note = f"target {TARGET_ONE_PROCESS:,}: {verdict}"
                else:
                    note = f"{rates[workers] / rates[1]:.2f}x one process"
                print(
                    f"  {workers} process(es): {rates[workers]:,.0f} events/s "
                    f"(p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, "
                    f"errors {result['errors']:.0f})  {note}"
                )
            bound = database_bound(schemas[0], args.seconds)
            print(f"  bound, the store alone with no HTTP (one process): {bound:,.0f} events/s")

            print(f"\ningestion with {args.stored:,} events already stored, one collector process")
            empty = fresh_schema(admin)
            schemas.append(empty)
            full = fresh_schema(admin)
            schemas.append(full)
            took = preload(admin, full, args.stored)
            size = admin.execute(
                "SELECT pg_size_pretty(pg_total_relation_size(%s))", (f'"{full}".events',)
            ).fetchone()
            print(f"  preloaded in {took:.0f} s; table with indexes: {size[0] if size else '?'}")
            empty_rate = ingest(empty, 1, args.seconds, args.generators)["events_per_s"]
            full_rate = ingest(full, 1, args.seconds, args.generators)["events_per_s"]
            ratio = full_rate / empty_rate
            verdict = "met" if ratio >= TARGET_FULL_STORE else "NOT met"
            print(f"  empty store: {empty_rate:,.0f} events/s")
            print(
                f"  {args.stored:,} stored: {full_rate:,.0f} events/s = {ratio:.0%} of empty "
                f"(target {TARGET_FULL_STORE:.0%}: {verdict})"
            )
        finally:
            for schema in schemas:
                admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    if args.warehouse:
        print("\nwarehouse load (bench/warehouse_load.py)", flush=True)
        subprocess.run(
            [sys.executable, str(Path(__file__).with_name("warehouse_load.py"))], check=True
        )
    print(f"\nload average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
