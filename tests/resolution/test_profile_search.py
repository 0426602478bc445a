"""Profile search through the search index: substrings of identifiers and trait values."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import psycopg

from audience.resolution import SqliteProfileStore
from audience.resolution.postgres_profiles import PostgresProfileStore
from postgres_db import fresh_schema
from resolution.events import make_event


def found(store: SqliteProfileStore, query: str, limit: int = 50) -> list[str]:
    """The best identifier of each profile found, in the order found."""
    return [profile.identifiers[0].value for profile in store.search(query, limit)]


def people() -> list:
    return [
        make_event(1, "identify", user_id="ada-1", traits={"email": "ada@lovelace.org"}),
        make_event(2, "identify", user_id="zoe-2", traits={"name": "Zoë Saldaña", "plan": "pro"}),
        make_event(3, "identify", user_id="grace-3", traits={"name": "Grace Hopper", "age": 85}),
        make_event(4, "page", anonymous_id="anon-7f3a"),
    ]


def test_search_finds_a_substring_of_a_user_id_an_anonymous_id_or_an_email(
    profile_store: SqliteProfileStore,
) -> None:
    profile_store.apply(people())
    assert found(profile_store, "race-") == ["grace-3"]
    assert found(profile_store, "7f3") == ["anon-7f3a"]
    assert found(profile_store, "@lovelace") == ["ada-1"]


def test_search_ignores_ascii_case(profile_store: SqliteProfileStore) -> None:
    profile_store.apply(people())
    assert found(profile_store, "GRACE HOP") == ["grace-3"]
    assert found(profile_store, "ADA@") == ["ada-1"]


def test_search_finds_a_string_trait_by_its_text_beyond_ascii(
    profile_store: SqliteProfileStore,
) -> None:
    profile_store.apply(people())
    assert found(profile_store, "Zoë Sal") == ["zoe-2"]
    assert found(profile_store, "Saldaña") == ["zoe-2"]


def test_search_finds_a_number_trait_by_its_digits(profile_store: SqliteProfileStore) -> None:
    profile_store.apply(people())
    assert found(profile_store, "85") == ["grace-3"]


def test_a_query_shorter_than_three_characters_still_finds_substrings(
    profile_store: SqliteProfileStore,
) -> None:
    profile_store.apply(people())
    assert found(profile_store, "7f") == ["anon-7f3a"]
    assert found(profile_store, "ë") == ["zoe-2"]


def test_percent_underscore_and_quotes_in_a_query_are_taken_literally(
    profile_store: SqliteProfileStore,
) -> None:
    profile_store.apply(
        [
            make_event(1, "identify", user_id="u_1", traits={"note": '50% off "now"'}),
            make_event(2, "identify", user_id="ux1", traits={"note": "500 off"}),
        ]
    )
    assert found(profile_store, "u_1") == ["u_1"]
    assert found(profile_store, "0%") == ["u_1"]
    assert found(profile_store, '"now"') == ["u_1"]
    assert found(profile_store, "_") == ["u_1"]


def test_a_profile_holding_the_exact_identifier_comes_before_newer_partial_matches(
    profile_store: SqliteProfileStore,
) -> None:
    profile_store.apply(
        [
            make_event(1, "identify", user_id="sam"),
            make_event(2, "identify", user_id="samantha"),
            make_event(3, "identify", user_id="sam-3", traits={"name": "Sam"}),
        ]
    )
    assert found(profile_store, "sam") == ["sam", "sam-3", "samantha"]


def test_search_returns_at_most_limit_profiles_newest_activity_first(
    profile_store: SqliteProfileStore,
) -> None:
    profile_store.apply(
        [make_event(seq, "identify", user_id=f"user-{seq}", minute=seq) for seq in range(1, 8)]
    )
    assert found(profile_store, "user-", limit=3) == ["user-7", "user-6", "user-5"]
    assert found(profile_store, "user-", limit=0) == []


def test_search_finds_a_merged_profile_once_by_either_identifier(
    profile_store: SqliteProfileStore,
) -> None:
    profile_store.apply([make_event(1, "page", anonymous_id="anon-77", name="Home")])
    profile_store.apply([make_event(2, "identify", anonymous_id="anon-77", user_id="kim-9")])
    assert found(profile_store, "anon-77") == ["kim-9"]
    assert found(profile_store, "-") == ["kim-9"]


def test_a_changed_trait_is_found_by_its_new_value_and_no_longer_by_the_old(
    profile_store: SqliteProfileStore,
) -> None:
    profile_store.apply([make_event(1, "identify", user_id="u1", traits={"city": "Lisbon"})])
    profile_store.apply([make_event(2, "identify", user_id="u1", traits={"city": "Porto"})])
    assert found(profile_store, "porto") == ["u1"]
    assert found(profile_store, "lisbon") == []


def test_after_clear_search_finds_nothing_until_the_events_are_applied_again(
    profile_store: SqliteProfileStore,
) -> None:
    profile_store.apply(people())
    profile_store.clear()
    assert found(profile_store, "grace") == []
    profile_store.apply(people())
    assert found(profile_store, "grace") == ["grace-3"]


def _drop_search_index(store: SqliteProfileStore) -> None:
    """Bring the store back to the layout before the search index, keeping its profiles."""
    if isinstance(store, PostgresProfileStore):
        with psycopg.connect(store.url, autocommit=True) as connection:
            connection.execute(
                "DROP INDEX identifiers_value_search, identifier_traits_value_search"
            )
            connection.execute(
                "DELETE FROM schema_migrations WHERE component = 'profiles' AND version = 4"
            )
        return
    with sqlite3.connect(store.path, isolation_level=None) as connection:
        connection.execute("DROP TABLE profile_search")
        connection.execute("DROP TRIGGER profile_search_identifier_deleted")
        connection.execute("DROP TRIGGER profile_search_trait_deleted")
        connection.execute("PRAGMA user_version = 3")
    connection.close()


def test_the_migration_indexes_the_profiles_a_store_already_holds(
    store_factory: Callable[..., SqliteProfileStore],
) -> None:
    store = store_factory()
    store.apply(people())
    store.close()
    _drop_search_index(store)
    reopened = (
        PostgresProfileStore(store.url)
        if isinstance(store, PostgresProfileStore)
        else SqliteProfileStore(store.path)
    )
    try:
        assert found(reopened, "hopper") == ["grace-3"]
        assert found(reopened, "7f3") == ["anon-7f3a"]
    finally:
        reopened.close()


def test_deleting_an_identifier_or_its_trait_takes_it_out_of_the_sqlite_index(
    tmp_path: Path,
) -> None:
    """PostgreSQL's indexes follow their tables; SQLite's search table follows by triggers."""
    store = SqliteProfileStore(tmp_path / "profiles.sqlite3")
    try:
        store.apply(people())
        with sqlite3.connect(store.path, isolation_level=None) as connection:
            connection.execute("DELETE FROM identifier_traits WHERE name = 'name'")
            connection.execute("DELETE FROM identifiers WHERE value = 'anon-7f3a'")
            remaining = connection.execute("SELECT count(*) FROM profile_search").fetchone()[0]
        connection.close()
        assert found(store, "hopper") == []
        assert found(store, "grace-3") == ["grace-3"]
        assert found(store, "7f3") == []
        assert remaining == 3
    finally:
        store.close()


def test_postgres_answers_a_substring_search_from_the_trigram_indexes() -> None:
    with fresh_schema() as url:
        store = PostgresProfileStore(url)
        try:
            store.apply(people())
            with psycopg.connect(url, autocommit=True) as connection:
                connection.execute("SET enable_seqscan = off")
                plan = "\n".join(
                    row[0]
                    for row in connection.execute(
                        "EXPLAIN SELECT profile FROM identifiers WHERE value ILIKE '%race%' "
                        "UNION SELECT i.profile FROM identifier_traits t "
                        "JOIN identifiers i ON i.id = t.identifier WHERE (CASE WHEN "
                        "substr(t.value, 1, 1) = '\"' THEN t.value::jsonb #>> '{}' "
                        "ELSE t.value END) ILIKE '%race%'"
                    )
                )
        finally:
            store.close()
    assert "identifiers_value_search" in plan
    assert "identifier_traits_value_search" in plan


def test_a_short_query_returns_the_newest_matching_profiles_first(
    profile_store: SqliteProfileStore,
) -> None:
    profile_store.apply(
        [make_event(seq, "identify", user_id=f"u{seq}-x", minute=seq) for seq in range(1, 6)]
    )
    assert found(profile_store, "-x", limit=2) == ["u5-x", "u4-x"]
    assert found(profile_store, "-x") == ["u5-x", "u4-x", "u3-x", "u2-x", "u1-x"]


def test_a_query_matching_thousands_of_profiles_returns_the_newest_first(
    profile_store: SqliteProfileStore,
) -> None:
    profile_store.apply(
        [
            make_event(seq, "identify", user_id=f"user-{seq:05d}", minute=seq)
            for seq in range(1, 2_101)
        ]
    )
    assert found(profile_store, "user-", limit=3) == ["user-02100", "user-02099", "user-02098"]
    assert found(profile_store, "ser-0001", limit=2) == ["user-00019", "user-00018"]
