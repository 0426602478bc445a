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
from audience.destinations.erasure import Person, erase
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


WHEN = "2026-11-29T13:00:00.000Z"
"""When the operator actions of these tests are recorded: after every event."""


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


def test_an_operator_merge_reaches_the_people_tables_with_no_event_after_it(
    warehouse: tuple[DestinationConfig, Query],
    append: Append,
    event_store: EventStore,
    profiles: SqlProfileStore,
    delivery_store: DeliveryStore,
) -> None:
    config, query = warehouse
    delivery_store.add(config, 0, 0.0)
    append(
        [
            message("identify", 1, 0, anonymousId="laptop", userId="jane@work"),
            message("identify", 2, 1, anonymousId="phone", userId="jane@home"),
        ]
    )
    resolve_and_deliver(event_store, profiles, delivery_store)
    pair = (profile_id(profiles, "jane@work"), profile_id(profiles, "jane@home"))
    profiles.merge(pair, action_id="act-1", at=WHEN, actor="ops", reason="same person")

    deliver(event_store, profiles, delivery_store)
    merged = profile_id(profiles, "jane@work")
    assert set(identities(query).values()) == {merged}
    assert query("SELECT id, identifier_count FROM {people}.profiles") == [(merged, 4)]
    assert query("SELECT value FROM {people}.sync_state WHERE id = 'operator_actions'") == [(1,)]


def test_an_operator_split_gives_the_identifier_it_separates_a_profile_row_of_its_own(
    warehouse: tuple[DestinationConfig, Query],
    append: Append,
    event_store: EventStore,
    profiles: SqlProfileStore,
    delivery_store: DeliveryStore,
) -> None:
    """The split rebuilds the profiles; the tables follow once the rebuild has caught up, with
    the person left behind written again and the split-off identifier in a profile of its own."""
    config, query = warehouse
    delivery_store.add(config, 0, 0.0)
    append(
        [
            message("page", 1, 0, anonymousId="shared-kiosk"),
            message("identify", 2, 1, anonymousId="shared-kiosk", userId="jane"),
            message("identify", 3, 2, anonymousId="jane-phone", userId="jane"),
        ]
    )
    resolve_and_deliver(event_store, profiles, delivery_store)
    jane = profile_id(profiles, "jane")
    assert len(set(identities(query).values())) == 1
    kiosk = Identifier("anonymous_id", "shared-kiosk")
    profiles.split(jane, kiosk, action_id="act-2", at=WHEN, actor="ops", reason="a kiosk")

    deliver(event_store, profiles, delivery_store)
    assert len(set(identities(query).values())) == 1, "not while the profiles are rebuilt"
    resolve_and_deliver(event_store, profiles, delivery_store)

    held = identities(query)
    kiosk_profile = profile_id(profiles, "shared-kiosk", "anonymous_id")
    assert kiosk_profile != profile_id(profiles, "jane")
    assert held == {
        ("anonymous_id", "shared-kiosk"): kiosk_profile,
        ("user_id", "jane"): profile_id(profiles, "jane"),
        ("anonymous_id", "jane-phone"): profile_id(profiles, "jane"),
    }
    rows = query("SELECT id, identifier_count FROM {people}.profiles")
    assert sorted(rows) == sorted([(profile_id(profiles, "jane"), 2), (kiosk_profile, 1)])


def test_a_privacy_deletion_removes_the_persons_people_rows_and_keeps_everyone_elses(
    warehouse: tuple[DestinationConfig, Query],
    append: Append,
    event_store: EventStore,
    profiles: SqlProfileStore,
    delivery_store: DeliveryStore,
) -> None:
    config, query = warehouse
    delivery_store.add(config, 0, 0.0)
    append(
        [
            message("identify", 1, 0, anonymousId="ada-anon", userId="ada", traits={"x": "ada-x"}),
            message("identify", 2, 1, anonymousId="ada-phone", userId="ada"),
            message("identify", 3, 2, anonymousId="bob-anon", userId="bob"),
        ]
    )
    resolve_and_deliver(event_store, profiles, delivery_store)
    bob = profile_id(profiles, "bob")

    sources = [source.name for source in event_store.list_sources()]
    ada = Person(("ada",), ("ada-anon",), ())
    erase([config], ada, sources=sources, notice_id="reg_1", clock=SystemClock())

    assert identities(query) == {("user_id", "bob"): bob, ("anonymous_id", "bob-anon"): bob}
    assert query("SELECT id FROM {people}.profiles") == [(bob,)]
    every_row = str(query("SELECT * FROM {people}.profiles"))
    assert "ada-x" not in every_row


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
