"""Deleting a person from the profile store: every identifier of their profile and everything
naming them goes, other people stay, and nothing of them is left in the files or tables."""

from __future__ import annotations

from pathlib import Path

import psycopg

from audience.eventlog import StoredEvent
from audience.identity.identifiers import Identifier
from audience.resolution import SqliteProfileStore
from audience.resolution.postgres_profiles import PostgresProfileStore
from audience.resolution.schema import TABLES
from postgres_db import fresh_schema
from resolution.events import make_event

ADA = "ada-lovelace-1815"


def journey() -> list[StoredEvent]:
    """Anonymous browsing, sign-in, a reset, then sign-in on a second device; and Bob."""
    return [
        make_event(1, "page", anonymous_id="laptop-anon"),
        make_event(2, "track", anonymous_id="laptop-anon", event="Added to Cart"),
        make_event(
            3,
            "identify",
            anonymous_id="laptop-anon",
            user_id=ADA,
            traits={"email": "ada@example.com", "favourite": "difference-engine"},
        ),
        make_event(4, "track", anonymous_id="laptop-anon", user_id=ADA, event="Order Completed"),
        make_event(5, "page", anonymous_id="laptop-after-reset"),
        make_event(6, "identify", anonymous_id="laptop-after-reset", user_id=ADA),
        make_event(7, "page", anonymous_id="phone-anon"),
        make_event(8, "identify", anonymous_id="phone-anon", user_id=ADA),
        make_event(9, "identify", anonymous_id="bob-anon", user_id="bob", traits={"plan": "x"}),
    ]


def test_the_person_of_an_anonymous_id_is_every_identifier_of_their_profile(
    profile_store: SqliteProfileStore,
) -> None:
    profile_store.apply(journey())
    person = profile_store.person(Identifier("anonymous_id", "phone-anon"))
    assert person == sorted(
        [
            Identifier("anonymous_id", "laptop-after-reset"),
            Identifier("anonymous_id", "laptop-anon"),
            Identifier("anonymous_id", "phone-anon"),
            Identifier("user_id", ADA),
        ]
    )
    unknown = Identifier("user_id", "nobody")
    assert profile_store.person(unknown) == [unknown]


def test_deleting_a_person_removes_their_profile_and_keeps_everyone_elses(
    profile_store: SqliteProfileStore,
) -> None:
    profile_store.apply(journey())
    bob = profile_store.lookup(Identifier("user_id", "bob"))
    person = profile_store.person(Identifier("anonymous_id", "laptop-anon"))
    deleted = profile_store.delete_identifiers(person)
    assert deleted.identifiers == 4
    assert deleted.seqs == (1, 2, 3, 4, 5, 6, 7, 8)
    for identifier in person:
        assert profile_store.lookup(identifier) is None
    assert profile_store.lookup(Identifier("user_id", "bob")) == bob
    assert profile_store.delete_identifiers(person).identifiers == 0


def test_a_deleted_person_can_come_back_as_someone_new(
    profile_store: SqliteProfileStore,
) -> None:
    """Resolvers forget the row ids they remembered, so later events build a fresh profile."""
    profile_store.apply(journey())
    profile_store.delete_identifiers(profile_store.person(Identifier("user_id", ADA)))
    profile_store.apply([make_event(20, "identify", anonymous_id="new-anon", user_id=ADA)])
    again = profile_store.lookup(Identifier("user_id", ADA))
    assert again is not None
    assert profile_store.person(Identifier("user_id", ADA)) == [
        Identifier("anonymous_id", "new-anon"),
        Identifier("user_id", ADA),
    ]


def test_a_deleted_persons_values_leave_the_sqlite_file(tmp_path: Path) -> None:
    store = SqliteProfileStore(tmp_path / "profiles.sqlite3")
    try:
        store.apply(journey())
        store.delete_identifiers(store.person(Identifier("anonymous_id", "phone-anon")))
    finally:
        store.close()
    contents = b"".join(
        p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("profiles.sqlite3")
    )
    for value in (ADA, "laptop-anon", "phone-anon", "ada@example.com", "difference-engine"):
        assert value.encode() not in contents
    assert b"bob-anon" in contents


def test_a_deleted_persons_values_leave_the_postgres_tables() -> None:
    with fresh_schema() as url:
        store = PostgresProfileStore(url)
        try:
            store.apply(journey())
            store.delete_identifiers(store.person(Identifier("user_id", ADA)))
        finally:
            store.close()
        with psycopg.connect(url, autocommit=True) as connection:
            text = " ".join(
                str(row[0])
                for table in TABLES
                for row in connection.execute(f"SELECT t::text FROM {table} t").fetchall()
            )
    for value in (ADA, "laptop-anon", "phone-anon", "ada@example.com", "difference-engine"):
        assert value not in text
    assert "bob-anon" in text
