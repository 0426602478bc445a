"""People in the warehouse: profiles and identities tables kept current as profiles link and merge,
in the real PostgreSQL and a real DuckDB file, with the profile store on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import psycopg
import pytest
from click.testing import CliRunner

from audience.cli import main
from audience.clock import SystemClock
from audience.destinations.base import DestinationConfig
from audience.destinations.delivery_store import DeliveryStore
from audience.destinations.dispatcher import Dispatcher
from audience.resolution import Identifier, Resolver
from audience.resolution.postgres_profiles import PostgresProfileStore
from audience.resolution.profile_store import SqlProfileStore
from audience.resolution.sqlite_profiles import SqliteProfileStore
from audience.storage.backend import EventStore
from support import AudienceServer, wait_for

from .conftest import POSTGRES_URL, Append, Query, warehouse_at

ATTRIBUTED_PAGES = """
SELECT e.id, COALESCE(u.profile_id, a.profile_id) AS profile_id
FROM {schema}.pages e
LEFT JOIN {people}.identities u ON u.type = 'user_id' AND u.value = e.user_id
LEFT JOIN {people}.identities a ON a.type = 'anonymous_id' AND a.value = e.anonymous_id
ORDER BY e.id
"""
"""The README's query: each event with the profile it belongs to now."""


@pytest.fixture
def profiles(data_dir: Path, database_url: str | None) -> Iterator[SqlProfileStore]:
    store: SqlProfileStore
    if database_url is None:
        data_dir.mkdir(parents=True, exist_ok=True)
        store = SqliteProfileStore.in_directory(data_dir)
    else:
        store = PostgresProfileStore(database_url)
    yield store
    store.close()


@pytest.fixture(params=["postgres", "duckdb"])
def warehouse(
    request: pytest.FixtureRequest, pg_schema: str, tmp_path: Path
) -> Iterator[tuple[DestinationConfig, Query]]:
    """A warehouse destination keeping people tables, and a way to query it."""
    people = f"{pg_schema}_people"
    yield warehouse_at(
        request.param, "warehouse", pg_schema, tmp_path, people=True, people_schema=people
    )
    if request.param == "postgres":
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{people}" CASCADE')


def message(kind: str, n: int, minute: int, **fields: Any) -> dict[str, Any]:
    when = f"2026-11-29T12:{minute:02d}:00.000Z"
    return {
        "type": kind,
        "messageId": f"{kind}-{n}",
        "timestamp": when,
        "receivedAt": when,
        **fields,
    }


def resolve_and_deliver(
    event_store: EventStore, profiles: SqlProfileStore, delivery_store: DeliveryStore
) -> None:
    """Resolve everything stored, then deliver until the dispatcher is idle."""
    resolver = Resolver(event_store, profiles)
    while resolver.step():
        pass
    deliver(event_store, profiles, delivery_store)


def deliver(
    event_store: EventStore, profiles: SqlProfileStore, delivery_store: DeliveryStore
) -> None:
    dispatcher = Dispatcher(event_store, delivery_store, SystemClock(), people=profiles)
    try:
        for _ in range(100):
            if not dispatcher.step():
                return
        raise AssertionError("the dispatcher never became idle")
    finally:
        dispatcher.close()


def profile_id(profiles: SqlProfileStore, value: str, kind: str = "user_id") -> str:
    found = profiles.lookup(Identifier(kind, value))  # type: ignore[arg-type]
    assert found is not None, value
    return found.id


def identities(query: Query) -> dict[tuple[str, str], str]:
    rows = query("SELECT type, value, profile_id FROM {people}.identities")
    return {(kind, value): profile for kind, value, profile in rows}


def test_the_seed_journey_ends_as_one_profile_row_with_its_anonymous_pages_attributed_to_it(
    warehouse: tuple[DestinationConfig, Query],
    append: Append,
    event_store: EventStore,
    profiles: SqlProfileStore,
    delivery_store: DeliveryStore,
) -> None:
    """Anonymous pages, identify, reset, and a new anonymous visitor afterwards."""
    config, query = warehouse
    delivery_store.add(config, 0, 0.0)
    append(
        [
            message("page", 1, 0, anonymousId="anon-1", name="Home"),
            message("page", 2, 1, anonymousId="anon-1", name="Pricing"),
            message("identify", 3, 2, anonymousId="anon-1", userId="jane", traits={"plan": "pro"}),
            message("page", 4, 3, anonymousId="anon-1", userId="jane", name="Account"),
            message("page", 5, 4, anonymousId="anon-2", name="Home"),
        ]
    )
    resolve_and_deliver(event_store, profiles, delivery_store)

    jane = profile_id(profiles, "jane")
    after_reset = profile_id(profiles, "anon-2", "anonymous_id")
    assert identities(query) == {
        ("anonymous_id", "anon-1"): jane,
        ("user_id", "jane"): jane,
        ("anonymous_id", "anon-2"): after_reset,
    }
    assert dict(query(ATTRIBUTED_PAGES)) == {
        "page-1": jane,
        "page-2": jane,
        "page-4": jane,
        "page-5": after_reset,
    }
    rows = query(
        "SELECT id, event_count, identifier_count, plan FROM {people}.profiles ORDER BY id"
    )
    assert sorted(rows) == sorted([(jane, 4, 2, "pro"), (after_reset, 1, 1, None)])
    [(linked_by, message_id)] = query(
        "SELECT linked_by, message_id FROM {people}.identities WHERE value = 'anon-1'"
    )
    assert (linked_by, message_id) == ("identify", "identify-3")


def test_a_merge_rewrites_the_absorbed_profiles_identifiers_and_removes_its_row(
    warehouse: tuple[DestinationConfig, Query],
    append: Append,
    event_store: EventStore,
    profiles: SqlProfileStore,
    delivery_store: DeliveryStore,
) -> None:
    """An alias joins two people after both reached the warehouse as profiles of their own."""
    config, query = warehouse
    delivery_store.add(config, 0, 0.0)
    append(
        [
            message("identify", 1, 0, anonymousId="laptop", userId="old-login"),
            message("identify", 2, 1, anonymousId="phone", userId="new-login"),
        ]
    )
    resolve_and_deliver(event_store, profiles, delivery_store)
    assert len(query("SELECT id FROM {people}.profiles")) == 2

    append([message("alias", 3, 2, previousId="old-login", userId="new-login")])
    resolve_and_deliver(event_store, profiles, delivery_store)

    merged = profile_id(profiles, "new-login")
    held = identities(query)
    assert set(held.values()) == {merged}
    named = {("user_id", "old-login"), ("user_id", "new-login")}
    assert named | {("anonymous_id", "laptop"), ("anonymous_id", "phone")} <= set(held)
    assert query("SELECT id, identifier_count FROM {people}.profiles") == [(merged, len(held))]


def test_a_warehouse_keeping_people_is_given_only_events_the_profiles_reflect(
    warehouse: tuple[DestinationConfig, Query],
    append: Append,
    event_store: EventStore,
    profiles: SqlProfileStore,
    delivery_store: DeliveryStore,
) -> None:
    config, query = warehouse
    delivery_store.add(config, 0, 0.0)
    append([message("page", 1, 0, anonymousId="anon-1")])
    resolve_and_deliver(event_store, profiles, delivery_store)
    append([message("identify", 2, 1, anonymousId="anon-1", userId="jane")])

    deliver(event_store, profiles, delivery_store)
    tables = query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = '{schema}'"
    )
    assert ("identifies",) not in tables
    assert delivery_store.cursor("warehouse") == 1

    resolve_and_deliver(event_store, profiles, delivery_store)
    assert query("SELECT id FROM {schema}.identifies") == [("identify-2",)]
    assert identities(query)[("anonymous_id", "anon-1")] == profile_id(profiles, "jane")


def test_a_trait_set_to_null_empties_its_profile_column(
    warehouse: tuple[DestinationConfig, Query],
    append: Append,
    event_store: EventStore,
    profiles: SqlProfileStore,
    delivery_store: DeliveryStore,
) -> None:
    config, query = warehouse
    delivery_store.add(config, 0, 0.0)
    append([message("identify", 1, 0, userId="jane", traits={"plan": "pro", "seats": 3})])
    resolve_and_deliver(event_store, profiles, delivery_store)
    assert query("SELECT plan, seats FROM {people}.profiles") == [("pro", 3)]

    append([message("identify", 2, 1, userId="jane", traits={"plan": None})])
    resolve_and_deliver(event_store, profiles, delivery_store)
    assert query("SELECT plan, seats FROM {people}.profiles") == [(None, 3)]


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        (["--webhook", "http://127.0.0.1:9/hook", "--people"], "--people goes with --postgres"),
        (["--duckdb", "w.duckdb", "--people-schema", "crm"], "--people-schema goes with --people"),
    ],
)
def test_people_tables_are_refused_where_they_cannot_be_kept(
    arguments: list[str], problem: str, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        main, ["destinations", "add", "w", *arguments, "--data", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert problem in result.output


def test_audience_serve_keeps_the_people_tables_of_a_destination_added_with_people(
    tmp_path: Path,
) -> None:
    """The CLI's --people, the dispatcher child following the resolver child, a real DuckDB."""
    path = tmp_path / "warehouse.duckdb"
    server = AudienceServer(
        tmp_path / "data",
        tmp_path / "serve.log",
        admin_token="people-tables-admin-token-0123456789",
        sources={"web": "WK_PEOPLE"},
    )
    server.create_sources()
    server.run_command(
        [
            "destinations",
            "add",
            "wh",
            "--duckdb",
            str(path),
            "--people",
            "--data",
            str(server.data_dir),
        ]
    )

    def people() -> list[tuple[Any, ...]] | None:
        try:
            with duckdb.connect(str(path), read_only=True) as connection:
                return connection.execute(
                    "SELECT type, value, profile_id FROM people.identities ORDER BY value"
                ).fetchall()
        except duckdb.Error:  # not made yet, or the dispatcher holds the file
            return None

    with server, httpx.Client(base_url=server.url, timeout=30) as client:
        batch = [
            message("page", 1, 0, anonymousId="anon-1"),
            message("identify", 2, 1, anonymousId="anon-1", userId="jane"),
        ]
        sent = client.post("/v1/batch", json={"batch": batch}, auth=("WK_PEOPLE", ""))
        assert sent.status_code == 200
        rows = wait_for(
            lambda: (found := people()) and len(found) == 2 and found,
            seconds=60,
            what="the people tables",
        )
    assert [(kind, value) for kind, value, _ in rows] == [
        ("anonymous_id", "anon-1"),
        ("user_id", "jane"),
    ]
    assert len({profile for _, _, profile in rows}) == 1
