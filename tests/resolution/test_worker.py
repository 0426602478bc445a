from __future__ import annotations

import time
from pathlib import Path

from audience.resolution import Identifier, SQLiteProfileStore
from audience.resolution.postgres import PostgresProfileStore
from audience.resolution.worker import ResolverProcess
from audience.storage.backend import EventStore
from audience.storage.postgres import PostgresEventStore
from audience.storage.sqlite import SqliteEventStore
from resolution.events import FLOW


def test_the_resolver_process_follows_commits_and_stops_when_asked(
    tmp_path: Path, database_url: str | None
) -> None:
    events_path, profiles_path = tmp_path / "events.sqlite3", tmp_path / "profiles.sqlite3"
    events: EventStore
    profiles: SQLiteProfileStore
    if database_url:
        events = PostgresEventStore.open(database_url)
        profiles = PostgresProfileStore(database_url)
    else:
        events = SqliteEventStore.open(events_path, synchronous="normal")
        profiles = SQLiteProfileStore(profiles_path)
    worker = ResolverProcess(events_path, profiles_path, database_url=database_url)
    with events:
        events.add_commit_listener(worker.notify)
        worker.start()
        try:
            events.append(FLOW).result()
            deadline = time.monotonic() + 30
            while profiles.cursor() < 5 and time.monotonic() < deadline:
                time.sleep(0.02)
            person = profiles.lookup(Identifier("user_id", "u1"))
            assert person is not None
            assert person.event_count == 4
        finally:
            worker.stop()
            profiles.close()
    worker.stop()
