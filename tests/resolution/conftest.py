from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from audience.resolution import SqliteProfileStore
from audience.resolution.postgres_profiles import PostgresProfileStore
from audience.storage.backend import EventStore
from audience.storage.postgres_events import PostgresEventStore
from audience.storage.sqlite_events import SqliteEventStore
from postgres_db import fresh_schema


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """Every profile store test runs on both stores."""
    return str(request.param)


@pytest.fixture
def database_url(backend: str) -> Iterator[str | None]:
    """The PostgreSQL URL of a fresh schema for the postgres backend, ``None`` for SQLite."""
    if backend != "postgres":
        yield None
        return
    with fresh_schema() as url:
        yield url


@pytest.fixture
def store_factory(tmp_path: Path, backend: str) -> Iterator[Callable[..., SqliteProfileStore]]:
    opened: list[SqliteProfileStore] = []
    counter = iter(range(1_000_000))
    with ExitStack() as schemas:

        def build(**options: Any) -> SqliteProfileStore:
            store: SqliteProfileStore
            if backend == "postgres":
                store = PostgresProfileStore(schemas.enter_context(fresh_schema()), **options)
            else:
                store = SqliteProfileStore(
                    tmp_path / f"profiles-{next(counter)}.sqlite3", **options
                )
            opened.append(store)
            return store

        yield build
        for store in opened:
            store.close()


@pytest.fixture
def profile_store(store_factory: Callable[..., SqliteProfileStore]) -> SqliteProfileStore:
    return store_factory()


OpenProfiles = Callable[[], SqliteProfileStore]


@pytest.fixture
def events(tmp_path: Path, database_url: str | None) -> Iterator[EventStore]:
    store: EventStore
    if database_url:
        store = PostgresEventStore.open(database_url)
    else:
        store = SqliteEventStore.open(tmp_path / "events.sqlite3", synchronous="normal")
    with store:
        yield store


@pytest.fixture
def open_profiles(tmp_path: Path, database_url: str | None) -> OpenProfiles:
    """Open (again) the one profile store of the test, as a restarted process would."""

    def opened() -> SqliteProfileStore:
        if database_url:
            return PostgresProfileStore(database_url)
        return SqliteProfileStore.in_directory(tmp_path)

    return opened
