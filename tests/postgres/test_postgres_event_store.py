"""The PostgreSQL event store shared by processes: seqs in commit order, migrations applied once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from audience.errors import StorageError
from audience.storage.migration_files import migrations
from audience.storage.postgres_events import PostgresEventStore
from audience.storage.postgres_migrations import applied, migrate
from postgres_db import fresh_schema

APPENDERS = 3
BATCHES = 40
PER_BATCH = 25

APPENDER = textwrap.dedent(
    """
    import sys
    import orjson
    from audience.storage.base import EventRecord
    from audience.storage.postgres_events import PostgresEventStore

    url, name, batches, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

    def record(message_id):
        body = {"type": "track", "event": "E", "messageId": message_id}
        return EventRecord("web", message_id, "track", None, "a1", "E",
                           "2026-11-29T12:00:00.000Z", None, None, orjson.dumps(body))

    with PostgresEventStore.open(url) as store:
        for batch in range(batches):
            futures = [store.append([record(f"{name}-{batch}-{i}-{j}") for j in range(size // 5)])
                       for i in range(5)]
            for future in futures:
                future.result()
    """
)


@pytest.fixture
def database() -> Iterator[str]:
    with fresh_schema() as url:
        yield url


def test_a_reader_following_the_log_never_skips_an_event_committed_by_another_process(
    database: str,
) -> None:
    with PostgresEventStore.open(database) as store:
        writers = [
            subprocess.Popen(
                [sys.executable, "-c", APPENDER, database, f"p{n}", str(BATCHES), str(PER_BATCH)]
            )
            for n in range(APPENDERS)
        ]
        seen: list[int] = []
        position = 0
        try:
            # Follow the log the way the resolver does, while three processes append.
            for _ in range(100_000):
                running = any(writer.poll() is None for writer in writers)
                batch = store.read_after(position, 100)
                seen.extend(event.seq for event in batch)
                if batch:
                    position = batch[-1].seq
                elif not running:
                    break
        finally:
            for writer in writers:
                writer.wait(120)
        assert [writer.returncode for writer in writers] == [0] * APPENDERS
        every = [event.seq for event in store.read_after(0, 1_000_000)]
        assert len(every) == APPENDERS * BATCHES * PER_BATCH
        assert seen == every


def test_migrations_are_applied_once_even_when_processes_start_together(database: str) -> None:
    def open_and_close(_: int) -> None:
        PostgresEventStore.open(database).close()

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(open_and_close, range(6)))
    with psycopg.connect(database, autocommit=True) as connection:
        versions = [migration.version for migration in migrations("events", "postgres")]
        assert applied(connection, "events") == versions
        assert migrate(connection, "events") == []
        rows = connection.execute("SELECT count(*) FROM schema_migrations").fetchone()
        assert rows is not None
        assert rows[0] == len(versions)


def test_a_schema_newer_than_the_code_is_refused_and_left_as_it_is(database: str) -> None:
    PostgresEventStore.open(database).close()
    with psycopg.connect(database, autocommit=True) as connection:
        connection.execute(
            "INSERT INTO schema_migrations (component, version, name) "
            "VALUES ('events', 99, '0099_later.sql')"
        )
        latest = migrations("events", "postgres")[-1].version
        with pytest.raises(
            StorageError,
            match=f"events schema is at version 99, newer than this audience's {latest}",
        ):
            PostgresEventStore.open(database)
        assert applied(connection, "events")[-1] == 99


def test_the_same_message_sent_to_two_stores_is_kept_once(database: str) -> None:
    import orjson

    from audience.storage.base import EventRecord

    def record(message_id: str) -> EventRecord:
        body = orjson.dumps({"type": "track", "event": "E", "messageId": message_id})
        return EventRecord("web", message_id, "track", None, "a", "E", "t", None, None, body)

    with PostgresEventStore.open(database) as first, PostgresEventStore.open(database) as second:
        one = first.append([record("m1"), record("m2")])
        two = second.append([record("m2"), record("m1")])
        results = [one.result(), two.result()]
        assert sum(result.stored for result in results) == 2
        assert sum(result.duplicates for result in results) == 2
        assert first.count() == 2
