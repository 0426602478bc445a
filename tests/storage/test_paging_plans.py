"""The paging queries walk indexes from the cursor on both databases: checked in their plans.

Each store runs its real statements while every reader connection records them: SQLite's
expanded statements are explained with ``EXPLAIN QUERY PLAN``, and PostgreSQL's plans come
from ``auto_explain`` as notices on the connection.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

import audience.resolution.postgres_profiles as postgres_profiles
import audience.storage.postgres_events as postgres_events
from audience.eventlog import StoredEvent
from audience.identity.identifiers import Identifier
from audience.resolution import SqliteProfileStore
from audience.resolution.postgres_profiles import PostgresProfileStore
from audience.storage.base import EventFilter, EventRecord
from audience.storage.postgres_events import PostgresEventStore
from audience.storage.sqlite_events import SqliteEventStore
from postgres_db import fresh_schema

EVENTS = 3000


class Plans:
    """What the readers ran: SQLite statements, or PostgreSQL plans."""

    def __init__(self) -> None:
        self.sqlite_statements: list[str] = []
        self.postgres_plans: list[str] = []

    def of(self, fragment: str, database: str) -> list[str]:
        """PostgreSQL's plans, or SQLite's statements, of the reads containing ``fragment``."""
        if database == "postgres":
            return [plan for plan in self.postgres_plans if fragment in plan]
        return [
            statement
            for statement in self.sqlite_statements
            if fragment in statement and statement.lstrip().upper().startswith("SELECT")
        ]


@pytest.fixture
def plans(monkeypatch: pytest.MonkeyPatch) -> Callable[[], Plans]:
    """Call it once the data is in: connections opened from then on record what they run."""
    recorded = Plans()
    sqlite_connect = sqlite3.connect

    def traced_sqlite(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection = sqlite_connect(*args, **kwargs)
        connection.set_trace_callback(recorded.sqlite_statements.append)
        return connection

    def explained_postgres(original: Callable[[str], Any]) -> Callable[[str], Any]:
        def connect(url: str) -> Any:
            connection = original(url)
            connection.add_notice_handler(
                lambda notice: recorded.postgres_plans.append(notice.message_primary or "")
            )
            connection.execute("LOAD 'auto_explain'")
            connection.execute("SET auto_explain.log_min_duration = 0")
            connection.execute("SET auto_explain.log_level = notice")
            return connection

        return connect

    def start() -> Plans:
        monkeypatch.setattr(sqlite3, "connect", traced_sqlite)
        monkeypatch.setattr(postgres_events, "connect", explained_postgres(postgres_events.connect))
        monkeypatch.setattr(
            postgres_profiles, "connect", explained_postgres(postgres_profiles.connect)
        )
        return recorded

    return start


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def sqlite_plan(path: Path, statement: str) -> str:
    with sqlite3.connect(path) as connection:
        rows = connection.execute(f"EXPLAIN QUERY PLAN {statement}").fetchall()
    return " / ".join(str(row[3]) for row in rows)


def record(number: int) -> EventRecord:
    user = "u1" if number % 10 == 0 else f"u{number}"
    body = {"type": "track", "event": "E", "messageId": f"m{number}", "userId": user}
    return EventRecord(
        "web",
        f"m{number}",
        "track",
        user,
        None,
        "E",
        "2026-11-29T12:00:00.000Z",
        "2026-11-29T12:00:00.000Z",
        None,
        orjson.dumps(body),
    )


def test_event_pages_walk_the_seq_index_from_the_cursor(
    database: str, plans: Callable[[], Plans], tmp_path: Path
) -> None:
    with ExitStack() as stack:
        path = tmp_path / "events.sqlite3"
        store: SqliteEventStore | PostgresEventStore
        if database == "postgres":
            url = stack.enter_context(fresh_schema())
            store = stack.enter_context(PostgresEventStore.open(url))
        else:
            store = stack.enter_context(SqliteEventStore.open(path))
        store.append([record(n) for n in range(EVENTS)]).result()
        if database == "postgres":
            with psycopg.connect(url, autocommit=True) as connection:
                connection.execute("ANALYZE events")
        recorded = plans()
        assert len(store.recent(EventFilter(), 101, before=2000)) == 101
        assert len(store.recent(EventFilter(user_id="u1"), 11, before=2000)) == 11
        assert len(store.newer(EventFilter(), 1000, 100)) == 100

    found = recorded.of("FROM events", database)
    assert len(found) == 3
    if database == "postgres":
        assert all("Index Scan" in plan and "events_pkey" in plan for plan in found), found
        assert all("Sort" not in plan and "Seq Scan" not in plan for plan in found), found
    else:
        explained = [sqlite_plan(path, statement) for statement in found]
        assert explained == [
            "SEARCH events USING INTEGER PRIMARY KEY (rowid<?)",
            "SEARCH events USING INTEGER PRIMARY KEY (rowid<?)",
            "SEARCH events USING INTEGER PRIMARY KEY (rowid>?)",
        ]


def test_profile_event_pages_start_from_the_cursor_in_the_identifier_index(
    database: str, plans: Callable[[], Plans], tmp_path: Path
) -> None:
    messages = [
        {
            "type": "identify" if n == 0 else "track",
            "event": "E",
            "userId": "u1",
            "anonymousId": "a1" if n % 2 else None,
            "messageId": f"m{n}",
            "timestamp": f"2026-11-29T12:{n // 60 % 60:02d}:{n % 60:02d}.000Z",
            "receivedAt": "2026-11-29T13:00:00.000Z",
        }
        for n in range(300)
    ]
    others = [  # other people's events, so the profile's are a small part of the table
        {**message, "userId": f"o{n % 30}", "anonymousId": None, "messageId": f"o{n}"}
        for n, message in enumerate(messages * 5)
    ]
    with ExitStack() as stack:
        profiles: SqliteProfileStore
        if database == "postgres":
            url = stack.enter_context(fresh_schema())
            profiles = PostgresProfileStore(url)
        else:
            profiles = SqliteProfileStore(tmp_path / "profiles.sqlite3")
        stack.callback(profiles.close)
        stored = [StoredEvent(n + 1, "web", m) for n, m in enumerate(messages + others)]
        for start in range(0, len(stored), 500):  # in batches, as the resolver applies them
            profiles.apply(stored[start : start + 500])
        if database == "postgres":
            with psycopg.connect(url, autocommit=True) as connection:
                connection.execute("ANALYZE event_links")
                connection.execute("ANALYZE identifiers")
        recorded = plans()
        found_profile = profiles.lookup(Identifier("user_id", "u1"))
        assert found_profile is not None
        page = profiles.events(found_profile.id, 101)
        middle = (page[50].order_key, page[50].seq)
        assert len(profiles.events(found_profile.id, 101, middle)) == 101
        assert [e.seq for e in profiles.events_before(found_profile.id, middle, 10)] == list(
            range(50, 40, -1)
        )

    found = recorded.of("FROM event_links", database)
    assert len(found) == 3
    if database == "postgres":
        for plan in found:
            assert "event_links_identifier" in plan, plan
            assert "Seq Scan on event_links" not in plan, plan
    else:
        for statement in found:
            explained = sqlite_plan(tmp_path / "profiles.sqlite3", statement)
            assert "USING INDEX event_links_identifier (identifier=?" in explained, explained
            assert "SCAN e" not in explained, explained
        cursor_plans = [
            sqlite_plan(tmp_path / "profiles.sqlite3", statement) for statement in found[1:]
        ]
        assert "ord>?" in cursor_plans[0], cursor_plans
        assert "ord<?" in cursor_plans[1], cursor_plans
