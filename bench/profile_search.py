"""Profile search: latency of a substring search over many profiles, indexed and by a LIKE scan.

``--profiles`` profiles (1 million by default) are resolved into a fresh profile store: half are
people (an identify with a user id, an email and a name), half anonymous visitors (a page view).
Then the same queries (a piece of a user id, of an anonymous id, of an email, a name, and a short
query of two characters) are answered two ways in the same run, both reading only the rows of
the profiles found (at most 50 each):

- indexed: the store's search (FTS5 trigram table on SQLite, pg_trgm indexes on PostgreSQL);
- scan: the statement search used before the index, ``LIKE '%...%'`` over every identifier and
  trait value.

Each prints p50 / p99; the whole ``ProfileStore.search`` (profiles read in full) is printed too.

    .venv/bin/python bench/profile_search.py [--profiles 1000000] [--queries 200] [--scans 20]
        [--postgres postgresql://postgres@127.0.0.1:5432/test [--skip-sqlite]]

``--postgres`` runs the same measurements on a PostgreSQL profile store too (in a schema of its
own, dropped afterwards); ``--skip-sqlite`` measures PostgreSQL only.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from audience.eventlog import StoredEvent
from audience.resolution import SqliteProfileStore, queries
from audience.resolution.postgres_profiles import PostgresProfileStore
from audience.resolution.profile_store import SqlProfileStore
from audience.storage.dialect import SqlDialect, SqlSession

START = datetime(2026, 1, 1, tzinfo=UTC)
FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Ken", "Frances"]
LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Hamilton", "Thompson"]
BATCH = 2_000
"""Events per apply (on PostgreSQL, one advisory lock per identifier of the batch)."""
LIMIT = 50
INTERACTIVE_MS = 100
"""An interactive page wants an answer within this."""


def scan_search(db: SqlSession, dialect: SqlDialect, query: str, limit: int) -> list[int]:
    """The search before the index: ``LIKE`` over every identifier and trait value."""
    m = dialect.mark
    pattern = queries.contains(query)
    rows = db.execute(
        "SELECT p.id FROM profiles p WHERE p.id IN ("
        f" SELECT profile FROM identifiers WHERE value = {m}"
        f" OR value {dialect.like} {m} ESCAPE '\\'"
        " UNION SELECT i.profile FROM identifier_traits t"
        " JOIN identifiers i ON i.id = t.identifier"
        f" WHERE t.value {dialect.like} {m} ESCAPE '\\') "
        f"ORDER BY p.last_seen {dialect.descending}, p.id DESC LIMIT {m}",
        (query, pattern, pattern, limit),
    ).fetchall()
    return [int(row[0]) for row in rows]


def events(count: int) -> Iterator[list[StoredEvent]]:
    """Batches of events making ``count`` profiles: people and anonymous visitors alternating."""
    rng = random.Random(11)
    batch: list[StoredEvent] = []
    for seq in range(1, count + 1):
        moment = (START + timedelta(seconds=seq)).isoformat().replace("+00:00", "Z")
        message: dict[str, Any] = {"messageId": f"m-{seq}", "timestamp": moment}
        message["receivedAt"] = moment
        if seq % 2:
            first, last = rng.choice(FIRST), rng.choice(LAST)
            message |= {
                "type": "identify",
                "userId": f"user-{seq:07d}",
                "traits": {
                    "email": f"{first}.{last}{seq}@example.com".lower(),
                    "name": f"{first} {last}",
                },
            }
        else:
            message |= {"type": "page", "anonymousId": f"anon-{seq:07d}-{seq * 7919 % 65536:04x}"}
        batch.append(StoredEvent(seq=seq, source="bench", message=message))
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def query_mix(count: int, total: int) -> list[tuple[str, str]]:
    """``total`` queries of five kinds, each kind in turn."""
    rng = random.Random(5)
    found: list[tuple[str, str]] = []
    for number in range(total):
        seq = rng.randrange(1, count + 1)
        person = seq | 1 if seq | 1 <= count else 1
        kind = ["user id", "anonymous id", "email", "name", "short"][number % 5]
        if kind == "user id":
            found.append((kind, f"er-{person:07d}"))
        elif kind == "anonymous id":
            visitor = max(2, seq & ~1)
            found.append((kind, f"{visitor:07d}-"))
        elif kind == "email":
            found.append((kind, f"{person}@example"))
        elif kind == "name":
            found.append((kind, f"{rng.choice(FIRST)} {rng.choice(LAST)[:4]}"))
        else:
            found.append((kind, f"{rng.randrange(100):02d}"))
    return found


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def timed(
    store: SqlProfileStore, run: Callable[[SqlSession, str], list[int]], mix: list[tuple[str, str]]
) -> list[float]:
    spent: list[float] = []
    with store._reader() as db:
        for _, query in mix:
            began = time.perf_counter()
            run(db, query)
            spent.append((time.perf_counter() - began) * 1000)
    return spent


def fill(store: SqlProfileStore, count: int) -> float:
    began = time.perf_counter()
    for batch in events(count):
        store.apply(batch)
    return time.perf_counter() - began


def report(label: str, store: SqlProfileStore, count: int, queries_n: int, scans: int) -> None:
    loaded = fill(store, count)
    if isinstance(store, PostgresProfileStore):
        # What autovacuum does after a load this size: the planner's statistics.
        with psycopg.connect(store.url, autocommit=True) as connection:
            connection.execute("ANALYZE")
    dialect = store._dialect
    mix = query_mix(count, queries_n)
    print(f"{label}: {count:,} profiles resolved in {loaded:.0f} s")
    indexed = timed(
        store, lambda db, q: queries.search(db, dialect, q, LIMIT, store._matching), mix
    )
    scan_mix = mix[: max(5, scans)]
    scanned = timed(store, lambda db, q: scan_search(db, dialect, q, LIMIT), scan_mix)
    whole: list[float] = []
    for _, query in mix[:100]:
        began = time.perf_counter()
        store.search(query, LIMIT)
        whole.append((time.perf_counter() - began) * 1000)
    line = "   {:<28} p50 {:>9.2f} ms  p99 {:>9.2f} ms  ({} queries)"
    print(
        line.format(
            "indexed search (rows)",
            percentile(indexed, 0.5),
            percentile(indexed, 0.99),
            len(indexed),
        )
    )
    print(
        line.format(
            "LIKE scan (rows)", percentile(scanned, 0.5), percentile(scanned, 0.99), len(scanned)
        )
    )
    print(
        line.format(
            "ProfileStore.search (whole)",
            percentile(whole, 0.5),
            percentile(whole, 0.99),
            len(whole),
        )
    )
    for kind in ["user id", "anonymous id", "email", "name", "short"]:
        spent = [ms for (k, _), ms in zip(mix, indexed, strict=True) if k == kind]
        p50, p99 = percentile(spent, 0.5), percentile(spent, 0.99)
        print(f"   indexed, {kind:<14} p50 {p50:9.2f} ms  p99 {p99:9.2f} ms")
    print(f"   bound: an interactive page wants < {INTERACTIVE_MS} ms")


@contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    name = f"bench_search_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{name}"')
    separator = "&" if "?" in url else "?"
    try:
        yield f"{url}{separator}options=-csearch_path%3D{name}"
    finally:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{name}" CASCADE')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--scans", type=int, default=20, help="queries answered by the LIKE scan")
    parser.add_argument("--postgres", help="also measure a PostgreSQL profile store at this URL")
    parser.add_argument("--skip-sqlite", action="store_true", help="measure PostgreSQL only")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if options.skip_sqlite:
            folder = ""
        if folder:
            sqlite_store = SqliteProfileStore(Path(folder) / "profiles.sqlite3")
            try:
                report("SQLite", sqlite_store, options.profiles, options.queries, options.scans)
            finally:
                sqlite_store.close()
    if options.postgres:
        with postgres_schema(options.postgres) as url:
            postgres_store = PostgresProfileStore(url)
            try:
                report(
                    "PostgreSQL", postgres_store, options.profiles, options.queries, options.scans
                )
            finally:
                postgres_store.close()


if __name__ == "__main__":
    main()
