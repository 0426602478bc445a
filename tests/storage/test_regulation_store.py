"""Regulations, their subjects and the suppression list in either event store, and deleting a
person's events so that nothing of them is left in the database's files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import psycopg
import pytest

from audience.storage.backend import EventStore
from audience.storage.base import EventRecord
from audience.storage.postgres_events import PostgresEventStore
from audience.storage.regulations import RegulationRow
from audience.storage.sqlite_events import SqliteEventStore
from postgres_db import fresh_schema


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventStore]:
    if request.param == "sqlite":
        with SqliteEventStore.open(tmp_path / "events.sqlite3") as sqlite:
            yield sqlite
        return
    with fresh_schema() as url, PostgresEventStore.open(url) as postgres:
        yield postgres


def row(regulation_id: str, status: str = "RUNNING") -> RegulationRow:
    return RegulationRow(
        id=regulation_id,
        type="SUPPRESS",
        subject_type="USER_ID",
        subject_hashes='["ab"]',
        requested_by="cli",
        requested_via="host",
        requested_at="2026-12-03T10:00:00.000Z",
        status=status,
        steps="[]",
    )


def event(n: int, user_id: str | None, anonymous_id: str | None, email: str = "") -> EventRecord:
    message = {
        "type": "identify",
        "messageId": f"m-{n}",
        "userId": user_id,
        "anonymousId": anonymous_id,
        "traits": {"email": email, "favourite": f"colour-of-{user_id or anonymous_id}"},
        "receivedAt": "2026-12-03T10:00:00.000Z",
    }
    return EventRecord(
        "default",
        f"m-{n}",
        "identify",
        user_id,
        anonymous_id,
        None,
        "2026-12-03T10:00:00.000Z",
        None,
        None,
        orjson.dumps(message),
    )


def test_a_regulation_is_kept_listed_and_updated(store: EventStore) -> None:
    store.add_regulation(row("reg_1"), [("subject", "ada")])
    store.add_regulation(row("reg_2"), [])
    assert store.regulation("reg_1") == row("reg_1")
    assert [r.id for r in store.list_regulations(10)] == ["reg_2", "reg_1"]
    assert [r.id for r in store.list_regulations(10, before="reg_2")] == ["reg_1"]
    assert store.running_regulations() == ["reg_1", "reg_2"]
    store.update_regulation("reg_1", status="FINISHED", steps='[{"name": "x"}]', finished_at="t")
    kept = store.regulation("reg_1")
    assert kept is not None
    assert (kept.status, kept.steps, kept.finished_at) == ("FINISHED", '[{"name": "x"}]', "t")
    assert store.running_regulations() == ["reg_2"]
    assert store.regulation("reg_9") is None


def test_a_regulations_subjects_are_kept_only_until_they_are_forgotten(store: EventStore) -> None:
    store.add_regulation(row("reg_1"), [("subject", "ada")])
    store.add_regulation_subjects("reg_1", [("user_id", "ada"), ("anonymous_id", "a-1")])
    store.add_regulation_subjects("reg_1", [("user_id", "ada")])
    assert store.regulation_subjects("reg_1") == [
        ("anonymous_id", "a-1"),
        ("subject", "ada"),
        ("user_id", "ada"),
    ]
    store.forget_regulation_subjects("reg_1")
    assert store.regulation_subjects("reg_1") == []


def test_only_one_process_holds_a_regulations_lease_until_it_runs_out(store: EventStore) -> None:
    store.add_regulation(row("reg_1"), [])
    assert store.claim_regulation("reg_1", "one", now=100.0, until=130.0)
    assert not store.claim_regulation("reg_1", "two", now=110.0, until=140.0)
    assert store.claim_regulation("reg_1", "one", now=120.0, until=150.0), "renewed by its owner"
    assert store.claim_regulation("reg_1", "two", now=151.0, until=181.0), "taken once expired"
    store.update_regulation("reg_1", status="FINISHED", steps="[]")
    assert not store.claim_regulation("reg_1", "two", now=152.0, until=182.0), "ended"


def test_every_change_of_the_suppression_list_is_counted(store: EventStore) -> None:
    before = store.suppression_changes()
    assert store.add_suppressions(["h1", "h2"], "reg_1", "t") == 2
    assert store.add_suppressions(["h2"], "reg_2", "t") == 0
    assert store.suppressed_hashes() == {"h1", "h2"}
    assert store.lift_suppressions(["h1", "h3"]) == 2, "h2 was suppressed with h1"
    assert store.suppressed_hashes() == set()
    assert store.suppression_changes() == before + 3


def test_an_identifier_seen_beside_a_suppressed_one_joins_its_regulation(
    store: EventStore,
) -> None:
    store.add_suppressions(["user"], "reg_1", "t")
    store.add_suppressions(["bob"], "reg_2", "t")
    assert store.add_linked_suppressions(["new-anon"], "user", "t2") == 1
    assert store.add_linked_suppressions(["other"], "not-suppressed", "t2") == 0
    assert store.suppressed_hashes() == {"user", "new-anon", "bob"}
    store.lift_suppressions(["user"])
    assert store.suppressed_hashes() == {"bob"}


def test_deleting_a_persons_events_keeps_everyone_elses(store: EventStore) -> None:
    store.append(
        [
            event(1, "ada", "a-1"),
            event(2, None, "a-1"),
            event(3, None, "a-2"),
            event(4, "bob", "b-1"),
            event(5, None, "c-1", email="ada@example.com"),
        ]
    ).result()
    deleted = store.delete_events(user_ids=["ada"], anonymous_ids=["a-1", "a-2"], seqs=[5])
    assert deleted == [1, 2, 3, 5]
    assert [e.message["userId"] for e in store.read_after(0, 10)] == ["bob"]
    assert store.delete_events(user_ids=["ada"]) == []


def test_a_deleted_events_values_leave_the_sqlite_files(tmp_path: Path) -> None:
    """The values are overwritten in the file and the WAL is emptied: the bytes are gone."""
    path = tmp_path / "events.sqlite3"
    with SqliteEventStore.open(path) as store:
        store.append([event(n, None, f"other-{n}") for n in range(200)]).result()
        store.append([event(1000, "ada-lovelace-1815", "anon-ada-42", "ada@example.com")]).result()
        store.append([event(n, None, f"more-{n}") for n in range(2000, 2200)]).result()
        store.delete_events(user_ids=["ada-lovelace-1815"], anonymous_ids=["anon-ada-42"])
        files = [p for p in tmp_path.iterdir() if p.name.startswith("events.sqlite3")]
        contents = b"".join(p.read_bytes() for p in files)
    for value in (b"ada-lovelace-1815", b"anon-ada-42", b"ada@example.com"):
        assert value not in contents
    assert b"other-7" in contents


def test_a_deleted_events_values_leave_the_postgres_table() -> None:
    with fresh_schema() as url, PostgresEventStore.open(url) as store:
        store.append([event(1, "ada-lovelace-1815", "anon-ada-42", "ada@example.com")]).result()
        store.append([event(2, "bob", "b-1")]).result()
        store.delete_events(user_ids=["ada-lovelace-1815"])
        with psycopg.connect(url, autocommit=True) as connection:
            rows = connection.execute(
                "SELECT events::text, convert_from(message, 'UTF8') FROM events"
            ).fetchall()
    text = " ".join(f"{r[0]} {r[1]}" for r in rows)
    for value in ("ada-lovelace-1815", "anon-ada-42", "ada@example.com"):
        assert value not in text
    assert "colour-of-bob" in text
