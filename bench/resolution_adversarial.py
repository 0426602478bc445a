"""Identity resolution under adversarial graphs: how long another person waits for their profile.

For each workload, on SQLite and on PostgreSQL, a fresh event store and profile store are
followed by the resolver in its own process, as in ``audience serve``. The workload is committed
to the event store (500 events a commit, as the collector's group commits hand them over), then
another person's identify and track; the benchmark prints how long after that commit their
profile is up to date, and how fast the workload itself was resolved. The first workload, the
shop traffic of ``bench/resolution.py`` with as many events, is the normal rate of the same run:

1. out-of-order identifies around two user ids: ``shared`` is identified as ``alice`` and
   ``bob``, then each event is older than every event before it: nine anonymous ids identify
   as alice and one re-identifies ``shared``, alternately as alice and bob (merge protection
   must decide again every time);
2. a long alias chain: ``chain-0`` -> ``chain-1`` -> ... sent in random order;
3. one anonymous id shared by many users: ``kiosk`` identified as ``user-0`` ... ``user-N``,
   in random order.

    .venv/bin/python bench/resolution_adversarial.py [--events 3000] [--shared-users 10000]
        [--sqlite-only]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from audience.config import Settings
from audience.resolution import Identifier, ProfileStore
from audience.resolution.backend import open_profile_store
from audience.resolution.resolver_process import CHILD_NAME, resolver_child
from audience.storage.backend import EventStore
from audience.storage.postgres_events import PostgresEventStore
from audience.storage.sqlite_events import SqliteEventStore
from audience.supervision import Supervisor
from resolution import record, workload

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
START = datetime(2026, 11, 1, tzinfo=UTC)
COMMIT = 500
"""Events per commit of the event store, as the collector's group commits hand them over."""
WAIT = 600.0
"""Seconds the benchmark waits for a profile before it reports that it never came."""

Messages = list[dict[str, Any]]


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _message(number: int, moment: datetime, **fields: Any) -> dict[str, Any]:
    stamp = _stamp(moment)
    return {"messageId": f"adv-{number}", "timestamp": stamp, "receivedAt": stamp, **fields}


def shop(count: int) -> Messages:
    """The normal traffic of ``bench/resolution.py``: browsing, logins, shared devices, resets."""
    return list(workload(count, seed=17))


def out_of_order_pair(count: int) -> Messages:
    """Two user ids in one graph, then identifies each older than every event before it."""
    late = START + timedelta(days=30)
    messages = [
        _message(0, late, type="identify", anonymousId="shared", userId="alice"),
        _message(1, late, type="identify", anonymousId="shared", userId="bob"),
    ]
    for number in range(2, count):
        moment = late - timedelta(seconds=number)
        if number % 10 == 0:
            owner = "alice" if number % 20 == 0 else "bob"
            fields = {"anonymousId": "shared", "userId": owner}
        else:
            fields = {"anonymousId": f"visitor-{number}", "userId": "alice"}
        messages.append(_message(number, moment, type="identify", **fields))
    return messages


def alias_chain(count: int) -> Messages:
    """``chain-0`` aliased to ``chain-1``, ``chain-1`` to ``chain-2`` ... in random order."""
    messages = [
        _message(
            number,
            START + timedelta(seconds=number),
            type="alias",
            previousId=f"chain-{number}",
            userId=f"chain-{number + 1}",
        )
        for number in range(count)
    ]
    random.Random(5).shuffle(messages)
    return messages


def shared_anonymous_id(users: int) -> Messages:
    """One anonymous id identified as ``users`` different user ids, in random order."""
    messages = [
        _message(
            number,
            START + timedelta(seconds=number),
            type="identify",
            anonymousId="kiosk",
            userId=f"user-{number}",
        )
        for number in range(users)
    ]
    random.Random(6).shuffle(messages)
    return messages


def other_person() -> Messages:
    """Jane, who has nothing to do with the graph ahead of her: an identify and a track."""
    moment = START + timedelta(days=60)
    identify = _message(10**9, moment, type="identify", anonymousId="jane-laptop", userId="jane")
    track = _message(
        10**9 + 1,
        moment + timedelta(seconds=1),
        type="track",
        anonymousId="jane-laptop",
        userId="jane",
        event="Order Completed",
    )
    return [identify, track]


def jane_is_up_to_date(profiles: ProfileStore) -> bool:
    profile = profiles.lookup(Identifier("user_id", "jane"))
    return (
        profile is not None
        and profile.event_count == 2
        and Identifier("anonymous_id", "jane-laptop") in profile.identifiers
    )


@contextmanager
def stores(backend: str, folder: Path) -> Iterator[tuple[EventStore, ProfileStore, Settings]]:
    """A fresh event store and profile store, and the settings the resolver child opens them by."""
    if backend == "sqlite":
        settings = Settings(data_dir=folder, synchronous="normal")
        with SqliteEventStore.open(settings.database_path, synchronous="normal") as events:
            profiles = open_profile_store(settings)
            try:
                yield events, profiles, settings
            finally:
                profiles.close()
        return
    schema = f"bench_adv_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{POSTGRES}?options=-csearch_path%3D{schema}"
    settings = Settings(data_dir=folder, database_url=url)
    try:
        with PostgresEventStore.open(url) as events:
            profiles = open_profile_store(settings)
            try:
                yield events, profiles, settings
            finally:
                profiles.close()
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def wait_until(check: Callable[[], bool], limit: float = WAIT) -> float | None:
    """Seconds until ``check`` holds, polling every 10 ms; ``None`` if it never did."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        if check():
            return time.perf_counter() - started
        time.sleep(0.01)
    return None


def measure(backend: str, folder: Path, messages: Messages) -> tuple[float, float | None]:
    """(events/s at which ``messages`` were resolved, seconds until Jane's profile was right)."""
    with stores(backend, folder) as (events, profiles, settings):
        follower = Supervisor([resolver_child(settings)])
        events.add_commit_listener(follower.doorbell(CHILD_NAME).ring)
        follower.start()
        try:
            # One event first, so that the timing starts with the resolver process running.
            warm_up = _message(-1, START, type="page", anonymousId="warm-up")
            events.append([record(warm_up)]).result()
            wait_until(lambda: profiles.cursor() >= 1, 60)
            started = time.perf_counter()
            for begin in range(0, len(messages), COMMIT):
                events.append([record(m) for m in messages[begin : begin + COMMIT]]).result()
            graph_end = events.last_seq()
            events.append([record(m) for m in other_person()]).result()
            delay = wait_until(lambda: jane_is_up_to_date(profiles))
            wait_until(lambda: profiles.cursor() >= graph_end)
            elapsed = time.perf_counter() - started
        finally:
            follower.stop()
    return len(messages) / elapsed, delay


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000, help="events of each graph")
    parser.add_argument("--shared-users", type=int, default=10_000)
    parser.add_argument("--sqlite-only", action="store_true")
    arguments = parser.parse_args()
    graphs = [
        (f"normal shop traffic, {arguments.events:,} events", shop(arguments.events)),
        (
            f"out-of-order identifies around two user ids, {arguments.events:,} events",
            out_of_order_pair(arguments.events),
        ),
        (f"alias chain of {arguments.events:,} aliases", alias_chain(arguments.events)),
        (
            f"one anonymous id shared by {arguments.shared_users:,} users",
            shared_anonymous_id(arguments.shared_users),
        ),
    ]
    backends = ["sqlite"] if arguments.sqlite_only else ["sqlite", "postgres"]
    with tempfile.TemporaryDirectory(prefix="audience-bench-adversarial-") as temporary:
        for backend in backends:
            print(f"{backend}: resolver in its own process, {COMMIT} events a commit")
            normal: float | None = None
            for number, (name, messages) in enumerate(graphs):
                folder = Path(temporary) / f"{backend}-{number}"
                folder.mkdir()
                rate, delay = measure(backend, folder, messages)
                normal = normal or rate
                waited = f"{delay:.2f} s" if delay is not None else f"not within {WAIT:.0f} s"
                print(
                    f"  {name}: resolved at {rate:,.0f} events/s "
                    f"({rate / normal:.0%} of the normal rate {normal:,.0f} events/s); "
                    f"another person's profile up to date {waited} after commit"
                )


if __name__ == "__main__":
    main()
