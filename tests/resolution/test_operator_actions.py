"""Operator merges and splits recorded in the profile store, on both backends."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from audience.errors import ConflictError, NotFoundError
from audience.eventlog import StoredEvent
from audience.resolution import Identifier, SqliteProfileStore
from resolution.events import at, make_event

ALICE = Identifier("user_id", "alice")
BOB = Identifier("user_id", "bob")
TABLET = Identifier("anonymous_id", "tablet")


def catch_up(store: SqliteProfileStore, log: list[StoredEvent]) -> None:
    """Apply what the store has not applied yet, as the resolver does after its cursor."""
    store.apply([event for event in log if event.seq > store.cursor()])


def profile_of(store: SqliteProfileStore, identifier: Identifier) -> frozenset[Identifier]:
    profile = store.lookup(identifier)
    assert profile is not None
    return frozenset(profile.identifiers)


def kept_apart() -> list[StoredEvent]:
    """The tablet is alice's first; bob's identify on it is refused by merge protection."""
    return [
        make_event(1, "identify", user_id="alice", anonymous_id="tablet"),
        make_event(2, "identify", user_id="bob", anonymous_id="tablet"),
        make_event(3, "track", user_id="bob"),
    ]


def test_a_merge_joins_two_people_and_the_merge_log_says_who_and_why(
    profile_store: SqliteProfileStore,
) -> None:
    catch_up(profile_store, kept_apart())
    alice, bob = profile_store.lookup(ALICE), profile_store.lookup(BOB)
    assert alice is not None
    assert bob is not None
    action = profile_store.merge(
        (alice.id, bob.id), action_id="op-1", at=at(10), actor="admin", reason="same person"
    )
    assert (action.a, action.b) == (ALICE, BOB)
    merged = profile_store.lookup(ALICE)
    assert merged is not None
    assert frozenset(merged.identifiers) == {ALICE, BOB, TABLET}
    assert merged.event_count == 3
    [entry] = [m for m in profile_store.merges(merged.id) if m.kind == "merge"]
    assert (entry.actor, entry.note, entry.status) == ("admin", "same person", "joined")
    assert "by admin: same person" in entry.reason
    assert not [w for w in profile_store.warnings() if w.kind == "merge_refused"]


def test_merging_a_profile_with_itself_or_an_unknown_one_names_the_field(
    profile_store: SqliteProfileStore,
) -> None:
    catch_up(profile_store, kept_apart())
    alice = profile_store.lookup(ALICE)
    assert alice is not None
    with pytest.raises(ConflictError) as same:
        profile_store.merge((alice.id, alice.id), action_id="op-1", at=at(9), actor="a", reason="")
    assert same.value.field == "profiles"
    with pytest.raises(NotFoundError) as unknown:
        profile_store.merge(
            (alice.id, "prof_nobody"), action_id="op-2", at=at(9), actor="a", reason=""
        )
    assert unknown.value.field == "profiles[1]"
    assert profile_store.actions() == []


def test_a_split_takes_the_identifier_and_its_events_off_after_the_rebuild(
    profile_store: SqliteProfileStore,
) -> None:
    log = [
        make_event(1, "page", anonymous_id="tablet"),
        make_event(2, "identify", user_id="alice", anonymous_id="tablet"),
        make_event(3, "identify", user_id="alice", anonymous_id="phone"),
    ]
    catch_up(profile_store, log)
    alice = profile_store.lookup(ALICE)
    assert alice is not None
    profile_store.split(
        alice.id, TABLET, action_id="op-1", at=at(10), actor="admin", reason="a shared tablet"
    )
    assert profile_store.cursor() == 0
    catch_up(profile_store, log)
    assert profile_of(profile_store, TABLET) == {TABLET}
    assert profile_of(profile_store, ALICE) == {ALICE, Identifier("anonymous_id", "phone")}
    tablet = profile_store.lookup(TABLET)
    assert tablet is not None
    assert tablet.event_count == 1
    [entry] = profile_store.merges(tablet.id)
    assert (entry.kind, entry.actor, entry.note) == ("split", "admin", "a shared tablet")


def test_an_identify_after_a_split_links_the_identifier_again(
    profile_store: SqliteProfileStore,
) -> None:
    log = [make_event(1, "identify", user_id="alice", anonymous_id="tablet")]
    catch_up(profile_store, log)
    alice = profile_store.lookup(ALICE)
    assert alice is not None
    profile_store.split(alice.id, TABLET, action_id="op-1", at=at(10), actor="a", reason="")
    catch_up(profile_store, log)
    assert profile_of(profile_store, TABLET) == {TABLET}
    log.append(make_event(2, "identify", minute=20, user_id="alice", anonymous_id="tablet"))
    catch_up(profile_store, log)
    assert profile_of(profile_store, TABLET) == {ALICE, TABLET}


def test_splitting_what_the_profile_does_not_hold_or_holds_alone_is_refused(
    profile_store: SqliteProfileStore,
) -> None:
    catch_up(profile_store, kept_apart())
    alice, bob = profile_store.lookup(ALICE), profile_store.lookup(BOB)
    assert alice is not None
    assert bob is not None
    with pytest.raises(ConflictError) as elsewhere:
        profile_store.split(alice.id, BOB, action_id="op-1", at=at(9), actor="a", reason="")
    assert elsewhere.value.field == "identifier"
    with pytest.raises(ConflictError):
        profile_store.split(bob.id, BOB, action_id="op-2", at=at(9), actor="a", reason="")
    with pytest.raises(NotFoundError):
        profile_store.split("prof_nobody", BOB, action_id="op-3", at=at(9), actor="a", reason="")


def test_a_rebuild_applies_the_recorded_actions_again(
    store_factory: Callable[..., SqliteProfileStore],
) -> None:
    store = store_factory()
    log = kept_apart()
    catch_up(store, log)
    alice, bob = store.lookup(ALICE), store.lookup(BOB)
    assert alice is not None
    assert bob is not None
    store.merge((alice.id, bob.id), action_id="op-1", at=at(10), actor="admin", reason="same")
    before = profile_of(store, ALICE)
    store.clear()
    catch_up(store, log)
    assert profile_of(store, ALICE) == before == {ALICE, BOB, TABLET}
    assert [a.action_id for a in store.actions()] == ["op-1"]
