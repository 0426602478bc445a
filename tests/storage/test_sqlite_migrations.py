"""Each SQLite store brings its file to the newest schema, once, and refuses a newer file."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from audience.destinations.sqlite_deliveries import SqliteDeliveryStore
from audience.errors import StorageError
from audience.resolution import SqliteProfileStore
from audience.storage.migration_files import Migration, migrations
from audience.storage.sqlite_events import SqliteEventStore
from audience.storage.sqlite_migrations import apply_migrations, schema_version

OPENERS: dict[str, Callable[[Path], Any]] = {
    "events": SqliteEventStore.open,
    "profiles": SqliteProfileStore,
    "deliveries": SqliteDeliveryStore.open,
}


def version_of(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        return schema_version(connection)


@pytest.mark.parametrize("component", list(OPENERS))
def test_a_new_store_file_is_at_the_version_of_its_newest_migration(
    tmp_path: Path, component: str
) -> None:
    path = tmp_path / f"{component}.sqlite3"
    OPENERS[component](path).close()
    assert version_of(path) == migrations(component, "sqlite")[-1].version


@pytest.mark.parametrize("component", list(OPENERS))
def test_a_store_file_newer_than_the_code_is_refused_and_left_as_it_is(
    tmp_path: Path, component: str
) -> None:
    path = tmp_path / f"{component}.sqlite3"
    OPENERS[component](path).close()
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA user_version = 99")
    latest = migrations(component, "sqlite")[-1].version
    with pytest.raises(
        StorageError, match=f"schema version 99, newer than this audience's {latest}"
    ):
        OPENERS[component](path)
    assert version_of(path) == 99


def test_processes_opening_a_new_file_together_apply_each_migration_once(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"

    def open_and_close(_: int) -> None:
        SqliteEventStore.open(path).close()

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(open_and_close, range(6)))
    assert version_of(path) == migrations("events", "sqlite")[-1].version
    with SqliteEventStore.open(path) as store:
        assert [source.name for source in store.list_sources()] == []


def test_a_migration_that_fails_is_applied_not_at_all(tmp_path: Path) -> None:
    connection = sqlite3.connect(tmp_path / "any.sqlite3", isolation_level=None)
    files = [
        Migration(1, "0001_first.sql", "CREATE TABLE first (id INTEGER PRIMARY KEY);"),
        Migration(
            2,
            "0002_broken.sql",
            "CREATE TABLE second (id INTEGER PRIMARY KEY);\nINSERT INTO missing VALUES (1);",
        ),
    ]
    with pytest.raises(StorageError, match=r"migration 0002_broken\.sql of test failed"):
        apply_migrations(connection, files, "test")
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert tables == {"first"}
    assert schema_version(connection) == 1
    connection.close()


def test_a_migration_file_may_hold_semicolons_in_comments_and_text(tmp_path: Path) -> None:
    connection = sqlite3.connect(tmp_path / "any.sqlite3", isolation_level=None)
    sql = (
        "-- first; the table\n"
        "CREATE TABLE notes (text TEXT NOT NULL);\n"
        "INSERT INTO notes VALUES ('one; two');\n"
    )
    assert apply_migrations(connection, [Migration(1, "0001_notes.sql", sql)], "test") == [1]
    assert connection.execute("SELECT text FROM notes").fetchall() == [("one; two",)]
    connection.close()
