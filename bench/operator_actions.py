"""Operator merges and splits: what one costs on a store of realistic traffic.

The shop traffic of ``bench/resolution.py`` (``--events`` of it) is committed to an event store
and resolved; then two people's profiles are merged, and an anonymous id is split off a person.
A merge is one more link, applied at once: its time is printed beside one identify's batch on the
same store. A split drops links, so the profiles are rebuilt from the event log: its time (record
and rebuild) is printed beside ``audience resolve --rebuild`` on the same store, its bound.

    .venv/bin/python bench/operator_actions.py [--events 100000]
        [--postgres postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from audience.config import Settings
from audience.eventlog import StoredEvent
from audience.identity.identifiers import Identifier
from audience.resolution.backend import open_profile_store
from audience.resolution.profile_store import SqlProfileStore
from audience.resolution.resolver import Resolver
from audience.storage.sqlite_events import SqliteEventStore
from resolution import fill_event_store, postgres_schema, workload


def two_people(store: SqlProfileStore) -> tuple[str, str, Identifier]:
    """Two profiles with user ids, and an anonymous id the first one holds."""
    people = [
        p
        for p in store.search("", limit=10_000)
        if p.identifiers and p.identifiers[0].type == "user_id"
    ]
    for person in people:
        anonymous = [i for i in person.identifiers if i.type == "anonymous_id"]
        if anonymous:
            other = next(p for p in people if p.id != person.id)
            return person.id, other.id, anonymous[0]
    raise SystemExit("the workload made no person with an anonymous id")


def bench(folder: Path, count: int, database_url: str | None) -> None:
    settings = Settings(data_dir=folder, database_url=database_url)
    where = "PostgreSQL" if database_url else "SQLite"
    with SqliteEventStore.open(folder / "events.sqlite3", synchronous="normal") as events:
        fill_event_store(events, workload(count))
        store = open_profile_store(settings)
        try:
            resolver = Resolver(events, store)
            resolver.catch_up()
            started = time.perf_counter()
            resolver.rebuild()
            rebuild = time.perf_counter() - started
            first, second, anonymous = two_people(store)
            identify = StoredEvent(
                events.last_seq() + 1,
                "bench",
                {"type": "identify", "userId": "late", "anonymousId": "late-anon",
                 "messageId": "bench-identify", "timestamp": "2026-12-01T00:00:00.000Z"},
            )  # fmt: skip
            started = time.perf_counter()
            store.apply([identify])
            one_identify = time.perf_counter() - started
            started = time.perf_counter()
            store.merge(
                (first, second), action_id="op-bench-merge", at="2026-12-01T00:00:01.000Z",
                actor="bench", reason="benchmark",
            )  # fmt: skip
            merge = time.perf_counter() - started
            started = time.perf_counter()
            store.split(
                first, anonymous, action_id="op-bench-split", at="2026-12-01T00:00:02.000Z",
                actor="bench", reason="benchmark",
            )  # fmt: skip
            Resolver(events, store).catch_up()
            split = time.perf_counter() - started
        finally:
            store.close()
    print(f"{where}, {count:,} events:")
    print(f"  merge: {merge * 1000:.1f} ms    (one identify's batch: {one_identify * 1000:.1f} ms)")
    print(f"  split and rebuild: {split:.2f} s    (audience resolve --rebuild: {rebuild:.2f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument(
        "--postgres", metavar="URL", help="also on PostgreSQL, in a schema of its own"
    )
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="audience-bench-actions-") as temporary:
        root = Path(temporary)
        (root / "sqlite").mkdir()
        bench(root / "sqlite", arguments.events, None)
        if arguments.postgres:
            (root / "postgres").mkdir()
            with postgres_schema(arguments.postgres) as url:
                bench(root / "postgres", arguments.events, url)


if __name__ == "__main__":
    main()
