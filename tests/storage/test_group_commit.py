from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from audience.storage.base import EventRecord
from audience.storage.sqlite_migrations import migrate
from audience.storage.writer import ROWS_PER_STATEMENT, GroupCommitWriter


def record(message_id: str, source: str = "web") -> EventRecord:
    body = {"type": "track", "event": "E", "messageId": message_id}
    return EventRecord(
        source,
        message_id,
        "track",
        None,
        "a1",
        "E",
        "2026-11-29T12:00:00.000Z",
        None,
        None,
        orjson.dumps(body),
    )


@pytest.fixture
def connection(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    opened = sqlite3.connect(tmp_path / "events.sqlite3", isolation_level=None)
    migrate(opened, "events", tmp_path / "events.sqlite3")
    yield opened
    opened.close()


def stored_ids(path: Path) -> list[str]:
    with sqlite3.connect(path) as reader:
        rows = reader.execute("SELECT message_id FROM events ORDER BY seq").fetchall()
    reader.close()
    return [row[0] for row in rows]


def test_appends_queued_together_are_each_credited_with_the_events_they_sent_first(
    tmp_path: Path, connection: sqlite3.Connection
) -> None:
    connection.execute(
        "INSERT INTO events VALUES (1, 'web', 'old', 'track', NULL, NULL, NULL, "
        "'2026-11-29T12:00:00.000Z', NULL, NULL, x'7b7d')"
    )
    writer = GroupCommitWriter(
        sqlite3.connect(tmp_path / "events.sqlite3", isolation_level=None, check_same_thread=False)
    )
    futures = [
        writer.submit([record("a"), record("old"), record("b")]),
        writer.submit([record("b"), record("c"), record("a", source="app")]),
        writer.submit([record("c"), record("c")]),
    ]
    writer.close()
    results = [(f.result().stored, f.result().duplicates) for f in futures]
    assert results == [(2, 1), (2, 1), (0, 2)]
    assert stored_ids(tmp_path / "events.sqlite3") == ["old", "a", "b", "c", "a"]


def test_a_resent_event_in_a_later_statement_of_one_commit_counts_as_a_duplicate(
    tmp_path: Path, connection: sqlite3.Connection
) -> None:
    writer = GroupCommitWriter(
        sqlite3.connect(tmp_path / "events.sqlite3", isolation_level=None, check_same_thread=False)
    )
    records = [record(f"m{n}") for n in range(ROWS_PER_STATEMENT * 2 + 10)]
    records[ROWS_PER_STATEMENT + 5] = record("m3")
    future = writer.submit(records)
    writer.close()
    result = future.result()
    assert (result.stored, result.duplicates) == (len(records) - 1, 1)
    assert len(stored_ids(tmp_path / "events.sqlite3")) == len(records) - 1
