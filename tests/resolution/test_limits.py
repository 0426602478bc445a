"""The caps that bound resolution work, as a user of the profile store sees them."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from audience.config import load_settings
from audience.errors import ConfigError
from audience.identity.graph import Limits
from audience.resolution import Identifier, SqliteProfileStore
from audience.resolution.backend import open_profile_store
from audience.resolution.postgres_profiles import PostgresProfileStore
from audience.storage.migration_files import migrations
from postgres_db import fresh_schema
from resolution.events import make_event

KIOSK = Identifier("anonymous_id", "kiosk")


def user(value: str) -> Identifier:
    return Identifier("user_id", value)


def test_an_anonymous_id_identified_as_too_many_users_is_shared_and_leaves_its_profile(
    store_factory: Callable[..., SqliteProfileStore],
) -> None:
    """Past the limit a shop's kiosk belongs to nobody, and the warning says why."""
    store = store_factory(limits=Limits(shared_after=3))
    store.apply(
        [
            make_event(1, "page", anonymous_id="kiosk"),
            *(
                make_event(2 + i, "identify", anonymous_id="kiosk", user_id=f"cashier-{i}")
                for i in range(3)
            ),
        ]
    )
    first = store.lookup(user("cashier-0"))
    assert first is not None
    assert KIOSK in first.identifiers
    assert first.event_count == 2
    store.apply([make_event(5, "identify", anonymous_id="kiosk", user_id="cashier-3")])
    kiosk = store.lookup(KIOSK)
    assert kiosk is not None
    assert kiosk.identifiers == (KIOSK,)
    assert kiosk.event_count == 1
    first = store.lookup(user("cashier-0"))
    assert first is not None
    assert first.identifiers == (user("cashier-0"),)
    assert first.event_count == 1
    shared = [w for w in store.warnings() if w.kind == "shared_identifier"]
    assert len(shared) == 1
    assert "'kiosk' is linked to more than 3 user ids" in shared[0].detail
    merges = store.merges(first.id)
    assert [(m.status, m.cause) for m in merges] == [("refused", "shared_identifier")]
    assert "a shared identifier" in merges[0].reason


def test_email_links_no_longer_join_in_a_unit_over_its_cap(
    store_factory: Callable[..., SqliteProfileStore],
) -> None:
    """An email typed on more anonymous ids than the cap allows keeps only its own user id."""
    events = [
        make_event(1, "identify", user_id="jo", traits={"email": "team@acme.com"}),
        *(
            make_event(
                2 + i, "identify", anonymous_id=f"laptop-{i}", traits={"email": "team@acme.com"}
            )
            for i in range(3)
        ),
    ]
    within = store_factory(link_email=True, limits=Limits(unit_links=4))
    over = store_factory(link_email=True, limits=Limits(unit_links=3))
    within.apply(events)
    over.apply(events)
    jo = within.lookup(user("jo"))
    assert jo is not None
    assert jo.identifier_count == 5
    jo = over.lookup(user("jo"))
    assert jo is not None
    assert set(jo.identifiers) == {user("jo"), Identifier("email", "team@acme.com")}
    laptop = over.lookup(Identifier("anonymous_id", "laptop-0"))
    assert laptop is not None
    assert laptop.identifiers == (Identifier("anonymous_id", "laptop-0"),)
    assert [w.kind for w in over.warnings() if w.kind == "large_unit"] == ["large_unit"]
    causes = {m.cause for m in over.merges(laptop.id)}
    assert causes == {"large_unit"}


@pytest.fixture
def reopen(tmp_path: Path, database_url: str | None) -> Callable[..., SqliteProfileStore]:
    """Open (again) the one profile store of the test, as another process would."""

    def opened(limits: Limits | None = None) -> SqliteProfileStore:
        if database_url:
            return PostgresProfileStore(database_url, limits=limits)
        return SqliteProfileStore.in_directory(tmp_path, limits=limits)

    return opened


def test_the_limits_the_profiles_were_built_with_hold_until_a_rebuild_records_new_ones(
    reopen: Callable[..., SqliteProfileStore],
) -> None:
    """Two processes given different limits still resolve by one rule: the recorded one."""
    first = reopen(limits=Limits(shared_after=2))
    first.apply([make_event(1, "page", anonymous_id="a")])
    first.close()
    second = reopen(limits=Limits(shared_after=5))
    follower = reopen()
    try:
        assert second.limits == Limits(shared_after=2)
        assert follower.limits == Limits(shared_after=2)
        second.clear()
        assert second.limits == Limits(shared_after=5)
        follower.apply([make_event(1, "page", anonymous_id="a")])
        assert follower.limits == Limits(shared_after=5)
    finally:
        second.close()
        follower.close()


def test_the_identifier_user_limit_setting_reaches_a_new_profile_store(tmp_path: Path) -> None:
    settings = load_settings(
        env={"AUDIENCE_DATA_DIR": str(tmp_path), "AUDIENCE_IDENTIFIER_USER_LIMIT": "3"}
    )
    store = open_profile_store(settings)
    try:
        store.apply([make_event(1, "page", anonymous_id="a")])
        assert store.limits.shared_after == 3
    finally:
        store.close()
    with pytest.raises(ConfigError, match="AUDIENCE_IDENTIFIER_USER_LIMIT"):
        load_settings(env={"AUDIENCE_IDENTIFIER_USER_LIMIT": "0"})


def test_a_profile_file_of_the_older_layout_is_rebuilt_keeping_its_choices(
    tmp_path: Path,
) -> None:
    """Profiles are derived data: the resolver starts again from the first event."""
    path = tmp_path / "profiles.sqlite3"
    with sqlite3.connect(path) as old:
        old.executescript(
            "CREATE TABLE clusters (id INTEGER PRIMARY KEY, size INTEGER, user_ids INTEGER, "
            "newest TEXT);"
            "CREATE TABLE identifiers (id INTEGER PRIMARY KEY, type TEXT, value TEXT, key TEXT, "
            "profile INTEGER, cluster INTEGER);"
            "CREATE TABLE state (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
            "INSERT INTO state VALUES ('cursor', 40), ('link_email', 1), ('generation', 3);"
        )
    store = SqliteProfileStore(path)
    try:
        assert store.cursor() == 0
        assert store.link_email
        store.apply([make_event(1, "identify", anonymous_id="a", user_id="u")])
        assert store.lookup(user("u")) is not None
    finally:
        store.close()


def test_a_postgres_profile_schema_of_the_first_layout_is_rebuilt_keeping_its_choices() -> None:
    with fresh_schema() as url, psycopg.connect(url, autocommit=True) as admin:
        first = migrations("profiles", "postgres")[0]
        admin.execute(first.sql.encode())
        admin.execute(
            "CREATE TABLE schema_migrations (component text NOT NULL, version integer NOT NULL,"
            " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(),"
            " PRIMARY KEY (component, version))"
        )
        admin.execute(
            "INSERT INTO schema_migrations (component, version, name) VALUES ('profiles', %s, %s)",
            (first.version, first.name),
        )
        admin.execute(
            "INSERT INTO state VALUES ('cursor', 40), ('link_email', 1), ('generation', 3)"
        )
        store = PostgresProfileStore(url)
        try:
            assert store.cursor() == 0
            assert store.link_email
            store.apply([make_event(1, "identify", anonymous_id="a", user_id="u")])
            assert store.lookup(user("u")) is not None
        finally:
            store.close()
