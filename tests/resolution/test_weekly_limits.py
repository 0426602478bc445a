"""A user id's weekly limit on the anonymous ids it claims, in the profile store (both backends)."""

from __future__ import annotations

from collections.abc import Callable

from audience.identity.graph import Limits
from audience.resolution import Identifier, SqliteProfileStore
from resolution.events import make_event

BOT = Identifier("user_id", "bot")


def anon(value: str) -> Identifier:
    return Identifier("anonymous_id", value)


def members(store: SqliteProfileStore, identifier: Identifier) -> set[Identifier]:
    profile = store.lookup(identifier)
    assert profile is not None
    return set(profile.identifiers)


def test_past_the_weekly_limit_an_identify_does_not_link_its_anonymous_id(
    store_factory: Callable[..., SqliteProfileStore],
) -> None:
    store = store_factory(limits=Limits(weekly_anonymous_ids=2))
    store.apply(
        [make_event(n, "identify", user_id="bot", anonymous_id=f"a{n}") for n in range(1, 4)]
    )
    assert members(store, BOT) == {BOT, anon("a1"), anon("a2")}
    assert members(store, anon("a3")) == {anon("a3")}
    [refused] = [m for m in store.merges(store.lookup(anon("a3")).id) if m.status == "refused"]  # type: ignore[union-attr]
    assert refused.cause == "over_limit"
    assert "weekly limit" in refused.reason
    assert any("weekly limit" in w.detail for w in store.warnings() if w.kind == "merge_refused")


def test_a_late_claim_that_happened_first_takes_the_place_of_a_later_one(
    store_factory: Callable[..., SqliteProfileStore],
) -> None:
    """The first claims of the week by event time are linked, whatever the arrival order."""
    store = store_factory(limits=Limits(weekly_anonymous_ids=1))
    store.apply([make_event(1, "identify", minute=10, user_id="bot", anonymous_id="late")])
    store.apply([make_event(2, "track", minute=11, anonymous_id="late")])
    assert members(store, BOT) == {BOT, anon("late")}
    store.apply([make_event(3, "identify", minute=5, user_id="bot", anonymous_id="early")])
    assert members(store, BOT) == {BOT, anon("early")}
    alone = store.lookup(anon("late"))
    assert alone is not None
    assert alone.identifiers == (anon("late"),)
    assert alone.event_count == 1


def test_the_limits_are_recorded_with_the_profiles(
    store_factory: Callable[..., SqliteProfileStore],
) -> None:
    store = store_factory(limits=Limits(weekly_anonymous_ids=1, weekly_emails=3))
    store.apply([make_event(1, "identify", user_id="bot", anonymous_id="a1")])
    assert (store.limits.weekly_anonymous_ids, store.limits.weekly_emails) == (1, 3)
    store.clear()
    store.apply([make_event(1, "identify", user_id="bot", anonymous_id="a1")])
    assert store.limits.weekly_anonymous_ids == 1
