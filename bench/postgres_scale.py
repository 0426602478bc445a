"""PostgreSQL at scale: /v1/batch events/s with 1, 2 and 4 collector processes, ingestion with
millions of events already stored against an empty store, and the warehouse load rate.

Each collector process is one uvicorn worker of the collector application over the PostgreSQL
event store (``audience serve --workers N`` without the resolver and dispatcher, so the figure
is ingestion alone); load comes from the collector benchmark's generator processes over
loopback. Every figure is printed beside its peer or bound from the same run: the
single-process rate beside the 20,000 events/s target, the multi-process rates beside the
single one, the full-store rate beside the empty-store rate, and the bound of the database
alone (the same rows appended by the store with no HTTP, from 1, 2 and 4 processes). Beside
each rate: the CPU seconds per event of the collector or appending processes, and of every
PostgreSQL server process on the machine (read from /proc, so other work on PostgreSQL counts).

    .venv/bin/python bench/postgres_scale.py [--seconds 10] [--stored 10000000]
        [--warehouse] [--store-only] [--appends-at-once 20]
"""

from __future__ import annotations

import argparse
import multiprocessing
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
        "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).resolve().parent), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
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
    """Store ``count`` events straight into the table with generate_series, at positions 1 to
    ``count`` (no collector runs yet), and move the sequence past them; returns seconds."""
    sample = SERVER_EVENT % {"n": 0, "tag": "pre"}
    started = time.perf_counter()
    chunk = 1_000_000
    for first in range(1, count + 1, chunk):
        last = min(count, first + chunk - 1)
        admin.execute(
            f'INSERT INTO "{schema}".events (seq, source, message_id, type, user_id, '
            "anonymous_id, event, received_at, timestamp, request_ip, message) "
            "SELECT g, 'bench', 'pre-' || g, 'track', 'user_' || (g %% 100000), NULL, "
            "'Order Completed', '2026-11-29T18:56:28.395Z', '2026-11-29T18:56:28.395Z', "
            "'127.0.0.1', convert_to(replace(%s, 'pre-0', 'pre-' || g), 'UTF8') "
            "FROM generate_series(%s::bigint, %s::bigint) AS g",
            (sample, first, last),
        )
        print(f"  stored {last:,} events ({time.perf_counter() - started:.0f} s)", flush=True)
    if count > 0:
        admin.execute(f"SELECT setval('\"{schema}\".events_seq', %s)", (count,))
    admin.execute(f'VACUUM ANALYZE "{schema}".events')
    return time.perf_counter() - started


def process_cpu() -> dict[int, tuple[int, str, float]]:
    """Every process on this machine: its parent, its name and the CPU seconds it used so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    found: dict[int, tuple[int, str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :]
        values = fields.split()
        found[int(entry.name)] = (int(values[1]), name, (int(values[11]) + int(values[12])) / ticks)
    return found


def server_cpu() -> dict[int, float]:
    """CPU seconds used so far by each PostgreSQL server process on this machine, by pid."""
    return {pid: used for pid, (_, name, used) in process_cpu().items() if name == "postgres"}


def server_cpu_since(before: dict[int, float]) -> float:
    """CPU seconds the PostgreSQL server processes used since ``before`` (new ones from 0)."""
    return sum(used - before.get(pid, 0.0) for pid, used in server_cpu().items())


def tree_cpu(root: int) -> float:
    """CPU seconds used so far by ``root`` and every process below it."""
    processes = process_cpu()
    below: dict[int, list[int]] = {}
    for pid, (parent, _, _) in processes.items():
        below.setdefault(parent, []).append(pid)
    total, waiting = 0.0, [root]
    while waiting:
        pid = waiting.pop()
        if pid in processes:
            total += processes[pid][2]
        waiting.extend(below.get(pid, []))
    return total


def bound_records(tag: str, batch: int, count: int) -> list[Any]:
    from audience.storage.base import EventRecord

    records = []
    for i in range(count):
        body = SERVER_EVENT % {"n": batch * count + i, "tag": tag}
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
    return records


def bound_appender(
    schema: str,
    tag: str,
    seconds: float,
    appends: int,
    ready: Any,
    start: Any,
    results: Any,
    release: Any,
) -> None:
    """One appending process of the bound: ``appends`` appends of 100 events at a time."""
    from audience.storage.postgres_events import PostgresEventStore

    with PostgresEventStore.open(schema_url(schema)) as store:
        store.append(bound_records(f"{tag}-warm", 0, 1)).result()  # the writer is connected
        ready.set()
        start.wait()
        events = 0
        cpu_before = time.process_time()
        started = time.perf_counter()
        stop_at = started + seconds
        batch = 0
        while time.perf_counter() < stop_at:
            records = bound_records(tag, batch, 100 * appends)
            futures = [store.append(records[k : k + 100]) for k in range(0, len(records), 100)]
            events += sum(future.result().stored for future in futures)
            batch += 1
        results.put((events, time.perf_counter() - started, time.process_time() - cpu_before))
        release.wait()


def database_bound(schema: str, seconds: float, processes: int, appends: int) -> dict[str, float]:
    """The same rows appended by the store from ``processes`` processes with no HTTP."""
    context = multiprocessing.get_context("spawn")
    start, release, results = context.Event(), context.Event(), context.Queue()
    readies = [context.Event() for _ in range(processes)]
    workers = [
        context.Process(
            target=bound_appender,
            args=(
                schema,
                f"bound{processes}-{n}",
                seconds,
                appends,
                readies[n],
                start,
                results,
                release,
            ),
        )
        for n in range(processes)
    ]
    for worker in workers:
        worker.start()
    for ready in readies:
        ready.wait(120)
    server_before = server_cpu()
    start.set()
    outcomes = [results.get(timeout=seconds + 120) for _ in workers]
    server = server_cpu_since(server_before)
    release.set()
    for worker in workers:
        worker.join(60)
    events = sum(outcome[0] for outcome in outcomes)
    elapsed = max(outcome[1] for outcome in outcomes)
    client = sum(outcome[2] for outcome in outcomes)
    return {
        "events_per_s": events / elapsed,
        "client_us": 1e6 * client / max(events, 1),
        "server_us": 1e6 * server / max(events, 1),
    }


def ingest(schema: str, workers: int, seconds: float, generators: int) -> dict[str, float]:
    """Drive ``workers`` collector processes; adds their CPU and the server's per event."""
    port = free_port()
    process = start_collectors(schema_url(schema), port, workers)
    try:
        server_before, collectors_before = server_cpu(), tree_cpu(process.pid)
        result = drive("batch", port, seconds, generators, 16, None)
        server = server_cpu_since(server_before)
        collectors = tree_cpu(process.pid) - collectors_before
    finally:
        stop(process)
    events = max(result["events_per_s"] * seconds, 1.0)
    return {**result, "collector_us": 1e6 * collectors / events, "server_us": 1e6 * server / events}


def print_bound(
    seconds: float, appends: int, admin: psycopg.Connection[Any], schemas: list[str]
) -> None:
    print(
        "\nthe store alone with no HTTP, by appending processes "
        f"(each waits on {appends} append(s) of 100 events at a time)"
    )
    rates: dict[int, float] = {}
    for processes in (1, 2, 4):
        schema = fresh_schema(admin)
        schemas.append(schema)
        bound = database_bound(schema, seconds, processes, appends)
        rates[processes] = bound["events_per_s"]
        note = "" if processes == 1 else f"  {rates[processes] / rates[1]:.2f}x one process"
        print(
            f"  {processes} process(es): {bound['events_per_s']:,.0f} events/s "
            f"(CPU per event: appenders {bound['client_us']:.1f} us, "
            f"server {bound['server_us']:.1f} us){note}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--stored", type=int, default=10_000_000)
    parser.add_argument("--generators", type=int, default=2)
    parser.add_argument("--warehouse", action="store_true", help="also run warehouse_load.py")
    parser.add_argument(
        "--store-only", action="store_true", help="only the store alone by appending processes"
    )
    parser.add_argument(
        "--appends-at-once",
        type=int,
        default=20,
        help="appends of 100 events each appending process of the store alone waits on at once "
        "(1: small commits, bound by the WAL flush)",
    )
    args = parser.parse_args()

    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        schemas: list[str] = []
        if args.store_only:
            try:
                print_bound(args.seconds, args.appends_at_once, admin, schemas)
            finally:
                for schema in schemas:
                    admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            print(f"\nload average at end: {os.getloadavg()[0]:.1f}")
            return
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
                    f"errors {result['errors']:.0f}; CPU per event: collectors "
                    f"{result['collector_us']:.1f} us, server {result['server_us']:.1f} us)  {note}"
                )
            print_bound(args.seconds, args.appends_at_once, admin, schemas)

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
