"""Admin sessions kept in either event store: the same statements on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from audience.storage.admin_sessions import AdminSession
from audience.storage.backend import EventStore
from audience.storage.postgres_events import PostgresEventStore
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


def test_a_session_is_kept_touched_and_ended(store: EventStore) -> None:
    store.add_admin_session(AdminSession("a" * 64, 1000.0, 1000.0))
    assert store.admin_session("a" * 64) == AdminSession("a" * 64, 1000.0, 1000.0)
    store.touch_admin_session("a" * 64, 1060.5)
    assert store.admin_session("a" * 64) == AdminSession("a" * 64, 1000.0, 1060.5)
    store.touch_admin_session("a" * 64, 1010.0)
    assert store.admin_session("a" * 64) == AdminSession("a" * 64, 1000.0, 1060.5), "never back"
    store.end_admin_session("a" * 64)
    assert store.admin_session("a" * 64) is None
    store.end_admin_session("a" * 64)


def test_purging_forgets_idle_and_old_sessions_only(store: EventStore) -> None:
    store.add_admin_session(AdminSession("idle", 900.0, 1000.0))
    store.add_admin_session(AdminSession("old", 100.0, 5000.0))
    store.add_admin_session(AdminSession("live", 900.0, 5000.0))
    assert store.purge_admin_sessions(idle_before=2000.0, created_before=500.0) == 2
    assert store.admin_session("live") is not None
    assert store.admin_session("idle") is None
    assert store.admin_session("old") is None


def test_ending_every_session_says_how_many_there_were(store: EventStore) -> None:
    for name in ("one", "two", "three"):
        store.add_admin_session(AdminSession(name, 1.0, 1.0))
    assert store.end_all_admin_sessions() == 3
    assert store.end_all_admin_sessions() == 0


def test_a_replaced_meta_value_is_kept_over_the_first(store: EventStore) -> None:
    assert store.set_meta_once("admin_token", "first") == "first"
    store.replace_meta("admin_token", "second")
    assert store.get_meta("admin_token") == "second"
    store.replace_meta("fresh", "value")
    assert store.get_meta("fresh") == "value"


def test_an_existing_sqlite_store_gains_the_sessions_table_when_opened(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "events.sqlite3"
    with SqliteEventStore.open(path):
        pass
    with sqlite3.connect(path) as connection:
        # The file as the release before sessions left it.
        connection.execute("DROP TABLE admin_sessions")
        connection.execute("PRAGMA user_version = 1")
    with SqliteEventStore.open(path) as reopened:
        reopened.add_admin_session(AdminSession("after-upgrade", 1.0, 1.0))
        assert reopened.admin_session("after-upgrade") is not None
