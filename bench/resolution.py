"""Identity resolution: events resolved per second, lag behind sustained ingestion, lookup latency.

Three measurements, each printed beside the peer figure or bound it is compared with:

1. throughput: a realistic mix (anonymous browsing, logins, returning users on new devices,
   shared devices, resets, 1% late arrivals) committed to the SQLite event store, then the
   resolver catches up from zero: events/s and new profiles/s.
2. lag: events committed to the event store at a steady rate (the collector's measured rates,
   ``--rates``) while the resolver follows it on its thread, woken by each commit; lag sampled
   every 50 ms, then the time to drain once ingestion stops.
3. lookup: ``--events`` (1 million by default) events written straight into a profile store,
   then profile lookups by user id and by anonymous id: p50 / p99.

    .venv/bin/python bench/resolution.py [--events 1000000] [--rates 3000,11350] [--seconds 20]
        [--postgres postgresql://postgres@127.0.0.1:5432/test] [--only throughput,lag,lookup]

``--postgres`` also runs the throughput measurement with the PostgreSQL profile store. The
throughput measurement also prints the CPU time of the resolving process and the bytes it wrote:
on a shared machine they move less from run to run than the elapsed time.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg

from audience.config import Settings
from audience.eventlog import StoredEvent
from audience.resolution import Identifier, ProfileStore, Resolver, SqliteProfileStore
from audience.resolution.backend import open_profile_store
from audience.resolution.resolver_process import CHILD_NAME, resolver_child
from audience.storage.base import EventRecord
from audience.storage.sqlite_events import SqliteEventStore
from audience.supervision import Supervisor

START = datetime(2026, 11, 1, tzinfo=UTC)
SEGMENT_UNIFY_INBOUND = 1_000
"""Segment Unify's published inbound limit per space, events/s (tracking-api.md section 5)."""
RUDDERSTACK_NODE = 3_000
"""RudderStack's published gateway figure on 8 vCPU, events/s (tracking-api.md section 5)."""


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def workload(count: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """``count`` messages of a shop: visitors browse, some log in, some come back on new devices."""
    rng = random.Random(seed)
    users = max(10, count // 40)
    clock = START
    produced = 0
    visitor = 0
    while produced < count:
        visitor += 1
        anonymous_id = f"anon-{seed}-{visitor}"
        user_id = f"user-{rng.randrange(users)}" if rng.random() < 0.45 else None
        steps: list[dict[str, Any]] = []
        for _ in range(rng.randint(1, 5)):
            steps.append({"type": "page", "anonymousId": anonymous_id, "name": "Shop"})
        if rng.random() < 0.5:
            steps.append({"type": "track", "anonymousId": anonymous_id, "event": "Added to Cart"})
        if user_id is not None:
            traits = {"plan": rng.choice(["free", "pro", "team"]), "visits": visitor}
            steps.append(
                {
                    "type": "identify",
                    "anonymousId": anonymous_id,
                    "userId": user_id,
                    "traits": traits,
                }
            )
            for _ in range(rng.randint(1, 4)):
                steps.append(
                    {
                        "type": "track",
                        "anonymousId": anonymous_id,
                        "userId": user_id,
                        "event": "Order Completed",
                        "properties": {"revenue": rng.randint(5, 200)},
                    }
                )
            if rng.random() < 0.02:  # a shared device: a second person logs in on it
                other = f"user-{rng.randrange(users)}"
                steps.append({"type": "identify", "anonymousId": anonymous_id, "userId": other})
            if rng.random() < 0.3:  # logout: the browser continues with a new anonymous id
                steps.append({"type": "page", "anonymousId": f"{anonymous_id}-r", "name": "Shop"})
        for step in steps:
            clock += timedelta(milliseconds=rng.randint(5, 900))
            moment = clock - timedelta(minutes=5) if rng.random() < 0.01 else clock
            produced += 1
            step["messageId"] = f"m-{seed}-{produced}"
            step["timestamp"] = _stamp(moment)
            step["receivedAt"] = _stamp(clock)
            yield step
            if produced >= count:
                return


def record(message: dict[str, Any]) -> EventRecord:
    return EventRecord(
        source="bench",
        message_id=message["messageId"],
        type=message["type"],
        user_id=message.get("userId"),
        anonymous_id=message.get("anonymousId"),
        event=message.get("event"),
        received_at=message["receivedAt"],
        timestamp=message["timestamp"],
        request_ip=None,
        message=orjson.dumps(message),
    )


def fill_event_store(store: SqliteEventStore, messages: Iterator[dict[str, Any]]) -> int:
    total = 0
    chunk: list[EventRecord] = []
    for message in messages:
        chunk.append(record(message))
        if len(chunk) == 5000:
            total += store.append(chunk).result().stored
            chunk = []
    if chunk:
        total += store.append(chunk).result().stored
    return total


def bytes_written() -> int:
    """Bytes this process has written to files so far (Linux ``/proc/self/io``; 0 elsewhere)."""
    try:
        lines = Path("/proc/self/io").read_text().splitlines()
    except OSError:
        return 0
    return int(dict(line.split(": ") for line in lines).get("wchar", 0))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def bench_throughput(folder: Path, count: int, postgres: str | None = None) -> None:
    with SqliteEventStore.open(folder / "events.sqlite3", synchronous="normal") as events:
        fill_event_store(events, workload(count))
        profiles: ProfileStore = (
            SqliteProfileStore(folder / "profiles.sqlite3")
            if postgres is None
            else open_profile_store(Settings(data_dir=folder, database_url=postgres))
        )
        try:
            resolver = Resolver(events, profiles)
            written = bytes_written()
            started, cpu = time.perf_counter(), time.process_time()
            applied = resolver.catch_up()
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            written = bytes_written() - written
            found = len(profiles.search("", limit=10**9))
        finally:
            profiles.close()
    where = "SQLite" if postgres is None else "PostgreSQL"
    print(f"1. throughput ({where} profile store): {applied} events resolved in {elapsed:.1f} s")
    rates = f"{applied / elapsed:,.0f} events/s, {found / elapsed:,.0f} new profiles/s"
    print(f"   {rates} ({found} profiles in all)")
    print(
        f"   CPU of this process {cpu:.1f} s ({applied / cpu:,.0f} events per CPU second), "
        f"{written / 2**20:,.0f} MiB written by it, load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"   peers: Segment Unify accepts {SEGMENT_UNIFY_INBOUND:,} events/s inbound per space; "
        f"RudderStack's gateway ~{RUDDERSTACK_NODE:,} events/s on 8 vCPU (ingestion only)"
    )


def bench_lag(folder: Path, rate: int, seconds: float, in_process: bool) -> None:
    with SqliteEventStore.open(folder / "events.sqlite3", synchronous="normal") as events:
        profiles = SqliteProfileStore(folder / "profiles.sqlite3")
        follower: Resolver | Supervisor
        if in_process:
            follower = Resolver(events, profiles)
            events.add_commit_listener(follower.notify)
        else:
            follower = Supervisor([resolver_child(Settings(data_dir=folder, synchronous="normal"))])
            events.add_commit_listener(follower.doorbell(CHILD_NAME).ring)
        follower.start()
        messages = workload(int(rate * seconds) + 1000, seed=11)
        samples: list[int] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                samples.append(max(0, events.last_seq() - profiles.cursor()))
                stop.wait(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        batch = max(50, rate // 100)
        interval = batch / rate
        started = time.perf_counter()
        sent = 0
        try:
            while time.perf_counter() - started < seconds:
                due = started + sent / rate
                pause = due - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                events.append([record(next(messages)) for _ in range(batch)]).result()
                sent += batch
            ingest_elapsed = time.perf_counter() - started
            target = events.last_seq()
            drain_started = time.perf_counter()
            while profiles.cursor() < target and time.perf_counter() - drain_started < 120:
                time.sleep(0.005)
            drain = time.perf_counter() - drain_started
        finally:
            stop.set()
            sampler.join()
            follower.stop()
            profiles.close()
    achieved = sent / ingest_elapsed
    print(
        f"2. lag at {achieved:,.0f} events/s committed for {ingest_elapsed:.0f} s "
        f"(batches of {batch}, every {interval * 1000:.0f} ms), resolver in "
        + ("a thread of the ingesting process:" if in_process else "its own process, as in serve:")
    )
    p50, p99 = percentile(samples, 0.5), percentile(samples, 0.99)
    print(
        f"   lag p50 {p50:.0f} events ({p50 / achieved * 1000:.0f} ms), "
        f"p99 {p99:.0f} events ({p99 / achieved * 1000:.0f} ms), max {max(samples)} events; "
        f"drained {drain * 1000:.0f} ms after ingestion stopped"
    )
    print(
        f"   bound: keeping up means the lag stays bounded at the offered {rate:,} events/s; "
        "PostHog targets p95 end-to-end < 90 s"
    )


def bench_lookup(folder: Path, count: int, lookups: int) -> None:
    profiles = SqliteProfileStore(folder / "profiles.sqlite3")
    try:
        started = time.perf_counter()
        batch: list[StoredEvent] = []
        seq = 0
        users: list[str] = []
        anonymous: list[str] = []
        for message in workload(count, seed=13):
            seq += 1
            batch.append(StoredEvent(seq, "bench", message))
            if message.get("userId") and len(users) < 50_000:
                users.append(message["userId"])
            elif len(anonymous) < 50_000:
                anonymous.append(message["anonymousId"])
            if len(batch) == 5000:
                profiles.apply(batch)
                batch = []
        profiles.apply(batch)
        loaded = time.perf_counter() - started
        rng = random.Random(3)
        timings: dict[str, list[float]] = {"userId": [], "anonymousId": []}
        for _ in range(lookups):
            for kind, pool, type_ in (
                ("userId", users, "user_id"),
                ("anonymousId", anonymous, "anonymous_id"),
            ):
                identifier = Identifier(type_, rng.choice(pool))  # type: ignore[arg-type]
                begin = time.perf_counter()
                found = profiles.lookup(identifier)
                timings[kind].append((time.perf_counter() - begin) * 1000)
                if found is None:
                    raise SystemExit(f"lookup of {identifier} found nothing")
        size = sum(p.stat().st_size for p in folder.glob("profiles.sqlite3*"))
    finally:
        profiles.close()
    print(
        f"3. lookup with {seq:,} events stored ({loaded:.0f} s to resolve them, "
        f"{seq / loaded:,.0f} events/s; profile store {size / 2**20:.0f} MiB):"
    )
    for kind, values in timings.items():
        print(
            f"   by {kind}: p50 {statistics.median(values):.2f} ms, "
            f"p99 {percentile(values, 0.99):.2f} ms over {len(values)} lookups "
            "(whole profile: identifiers, folded traits, groups, counts)"
        )
    print("   bound: an interactive page wants < 100 ms; PostHog/Segment publish no lookup latency")


@contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    """A fresh schema in the database at ``url``: the URL that selects it, dropped afterwards."""
    name = f"bench_resolution_{os.getpid()}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{name}"
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{name}" CASCADE')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events behind the lookups")
    parser.add_argument("--throughput-events", type=int, default=200_000)
    parser.add_argument(
        "--rates",
        default="3000,11350",
        help="sustained ingestion rates to follow, events/s (default: the collector's measured "
        "single-event and batch rates in BENCHMARKS.md)",
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--only",
        default="throughput,lag,lookup",
        help="the measurements to run, comma-separated (default: all three)",
    )
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument(
        "--in-process", action="store_true", help="follow the log from a thread, not a process"
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="also measure the throughput with the PostgreSQL profile store, in a schema of its "
        "own made in this database and dropped afterwards",
    )
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="audience-bench-resolution-") as temporary:
        root = Path(temporary)
        (root / "throughput").mkdir()
        (root / "lookup").mkdir()
        only = set(arguments.only.split(","))
        if "throughput" in only:
            bench_throughput(root / "throughput", arguments.throughput_events)
        if "throughput" in only and arguments.postgres:
            (root / "throughput-postgres").mkdir()
            with postgres_schema(arguments.postgres) as url:
                bench_throughput(root / "throughput-postgres", arguments.throughput_events, url)
        for rate in (int(part) for part in arguments.rates.split(",") if "lag" in only):
            (root / f"lag-{rate}").mkdir()
            bench_lag(root / f"lag-{rate}", rate, arguments.seconds, arguments.in_process)
        if "lookup" in only:
            bench_lookup(root / "lookup", arguments.events, arguments.lookups)


if __name__ == "__main__":
    main()
