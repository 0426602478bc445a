"""People in the warehouse: what keeping the profiles and identities tables costs a warehouse load.

One event store and profile store (SQLite) hold the shop traffic of ``bench/resolution.py``,
resolved to the end. Two warehouse destinations in the same database then load it from the start,
one by one, in batches of 1,000: the plain one (event tables only) and one with ``--people``; the
figure is each one's events/s. Then ``--merges`` aliases each join two people of the shop (each
with its devices' anonymous ids) and both destinations load those: the difference per alias is
what a merge costs the warehouse's people tables. PostgreSQL (the local server, a schema of its
own) and a DuckDB file, one after the other.

    .venv/bin/python bench/people_tables.py [--events 50000] [--merges 500] [--duckdb-only]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from audience.clock import SystemClock
from audience.destinations.base import DestinationConfig, DestinationPolicy
from audience.destinations.dispatcher import Dispatcher
from audience.destinations.sqlite_deliveries import SqliteDeliveryStore
from audience.resolution import Resolver, SqliteProfileStore
from audience.storage.sqlite_events import SqliteEventStore
from resolution import fill_event_store, workload

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def aliases(count: int, users: int) -> Iterator[dict[str, Any]]:
    """``count`` aliases, each naming two user ids of the shop that were apart."""
    for number in range(count):
        moment = f"2026-12-01T00:{number // 60 % 60:02d}:{number % 60:02d}.000Z"
        yield {
            "type": "alias",
            "userId": f"user-{2 * number % users}",
            "previousId": f"user-{(2 * number + 1) % users}",
            "messageId": f"alias-{number}",
            "timestamp": moment,
            "receivedAt": moment,
        }


def deliver_all(dispatcher: Dispatcher, name: str) -> float:
    """Seconds ``name`` takes to load everything after its cursor."""
    started = time.perf_counter()
    while dispatcher.step_one(name):
        pass
    return time.perf_counter() - started


@contextmanager
def warehouses(kind: str, folder: Path) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """The options of two fresh warehouses of ``kind``, plain and with people; dropped after."""
    if kind == "duckdb":
        people = {"path": str(folder / "warehouse.duckdb"), "people": True}
        yield {"path": str(folder / "plain.duckdb")}, people
        return
    schema = f"bench_people_{uuid.uuid4().hex[:8]}"
    names = [f"{schema}_plain", schema, f"{schema}_people"]
    try:
        yield (
            {"url": POSTGRES, "schema": names[0]},
            {"url": POSTGRES, "schema": names[1], "people": True, "people_schema": names[2]},
        )
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as connection:
            for name in names:
                connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def measure(kind: str, folder: Path, events: int, merges: int) -> None:
    folder.mkdir()
    with (
        SqliteEventStore.open(folder / "events.sqlite3", synchronous="normal") as store,
        warehouses(kind, folder) as (plain, people),
    ):
        fill_event_store(store, workload(events))
        profiles = SqliteProfileStore.in_directory(folder)
        resolver = Resolver(store, profiles, batch_size=5000)
        while resolver.step():
            pass
        state = SqliteDeliveryStore.in_data_dir(folder)
        policy = DestinationPolicy(batch_size=1000)
        state.add(DestinationConfig("plain", kind, plain, delivery=policy), 0, 0.0)
        state.add(DestinationConfig("people", kind, people, delivery=policy), 0, 0.0)
        dispatcher = Dispatcher(store, state, SystemClock(), people=profiles)
        try:
            without = deliver_all(dispatcher, "plain")
            with_people = deliver_all(dispatcher, "people")
            users = max(10, events // 40)
            fill_event_store(store, aliases(merges, users))
            while resolver.step():
                pass
            merge_plain = deliver_all(dispatcher, "plain")
            merge_people = deliver_all(dispatcher, "people")
            for name in ("plain", "people"):
                dead = state.dead_letters(name)
                if dead or state.next_batch(name) is not None:
                    batch = dead[0] if dead else state.next_batch(name)
                    raise SystemExit(f"{kind} {name}: not all delivered: {batch}")
        finally:
            dispatcher.close()
            state.close()
            profiles.close()
    print(f"{kind}: {events:,} shop events loaded from the start, batches of 1,000")
    print(
        f"  event tables only: {events / without:,.0f} events/s; with the people tables: "
        f"{events / with_people:,.0f} events/s ({without / with_people:.0%} of the plain rate)"
    )
    per_merge = (merge_people - merge_plain) / merges * 1000
    print(
        f"  {merges:,} aliases joining two people each: {merge_plain * 1000 / merges:.2f} ms an "
        f"alias without people tables, {merge_people * 1000 / merges:.2f} ms with them: "
        f"{per_merge:.2f} ms a merge for the people tables"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--merges", type=int, default=500)
    parser.add_argument("--duckdb-only", action="store_true")
    arguments = parser.parse_args()
    kinds = ["duckdb"] if arguments.duckdb_only else ["postgres", "duckdb"]
    with tempfile.TemporaryDirectory(prefix="audience-bench-people-") as temporary:
        for kind in kinds:
            measure(kind, Path(temporary) / kind, arguments.events, arguments.merges)


if __name__ == "__main__":
    main()
