"""The identity rules of the SDK, one test per rule, through the public API."""

from __future__ import annotations

import shutil
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from audience.errors import ValidationError
from audience.sdk import Identity
from audience.testing import FakeClock

from .conftest import MakeAnalytics, Recording, sent


def test_the_anonymous_id_is_a_uuid4_minted_on_first_read_and_not_before(
    recording: Recording,
) -> None:
    analytics, _ = recording()
    store = analytics._tracker._ids
    assert store.get("ajs_anonymous_id") is None
    anonymous_id = analytics.user().anonymous_id()
    assert anonymous_id is not None
    parsed = uuid.UUID(anonymous_id)
    assert parsed.version == 4
    assert str(parsed) == anonymous_id
    assert store.get("ajs_anonymous_id") == anonymous_id


def test_the_anonymous_id_survives_a_restart_of_the_program(
    make_analytics: MakeAnalytics, tmp_path: Path
) -> None:
    first = make_analytics(storage="disk", storage_dir=tmp_path / "id").user().anonymous_id()
    again = make_analytics(storage="disk", storage_dir=tmp_path / "id").user().anonymous_id()
    assert first == again


def test_clearing_every_store_gives_a_new_anonymous_id(
    make_analytics: MakeAnalytics, tmp_path: Path
) -> None:
    first = make_analytics(storage="disk", storage_dir=tmp_path / "id").user().anonymous_id()
    shutil.rmtree(tmp_path / "id")
    again = make_analytics(storage="disk", storage_dir=tmp_path / "id").user().anonymous_id()
    assert again != first


def test_reset_starts_a_new_anonymous_visitor(recording: Recording) -> None:
    analytics, transport = recording()
    analytics.identify("user_123", {"name": "Jane Kim"})
    before = analytics.user().anonymous_id()
    analytics.reset()
    analytics.track("Viewed Home")
    after = sent(analytics, transport)[-1]
    assert after["anonymousId"] not in (None, before)
    assert after["userId"] is None


def test_identify_with_a_different_user_rotates_the_anonymous_id_in_that_identify(
    recording: Recording,
) -> None:
    analytics, transport = recording()
    analytics.identify("user_a")
    first = analytics.user().anonymous_id()
    analytics.identify("user_b")
    switched = sent(analytics, transport)[-1]
    assert switched["userId"] == "user_b"
    assert switched["anonymousId"] not in (None, first)
    assert analytics.user().anonymous_id() == switched["anonymousId"]


def test_identify_from_anonymous_keeps_the_anonymous_id(recording: Recording) -> None:
    analytics, transport = recording()
    analytics.page("Home")
    analytics.identify("user_123")
    page, identify = sent(analytics, transport)
    assert identify["anonymousId"] == page["anonymousId"]
    assert identify["userId"] == "user_123"


def test_identify_with_the_same_user_keeps_the_anonymous_id(recording: Recording) -> None:
    analytics, transport = recording()
    analytics.identify("user_123")
    analytics.identify("user_123", {"plan": "pro"})
    first, second = sent(analytics, transport)
    assert first["anonymousId"] == second["anonymousId"]


@pytest.mark.parametrize("no_user", [None, ""])
def test_identify_without_a_user_id_keeps_the_anonymous_id_and_the_user(
    recording: Recording, no_user: str | None
) -> None:
    analytics, transport = recording()
    analytics.identify("user_123")
    analytics.identify(no_user, {"age": 30})
    first, second = sent(analytics, transport)
    assert second["anonymousId"] == first["anonymousId"]
    assert second["userId"] == "user_123"
    assert analytics.user().id() == "user_123"


def test_set_anonymous_id_persists_for_later_calls(recording: Recording) -> None:
    analytics, transport = recording()
    analytics.set_anonymous_id("ABC-123-XYZ")
    analytics.page()
    analytics.track("Clicked")
    assert [m["anonymousId"] for m in sent(analytics, transport)] == ["ABC-123-XYZ"] * 2


def test_user_anonymous_id_with_a_value_persists_it(recording: Recording) -> None:
    analytics, transport = recording()
    assert analytics.user().anonymous_id("ABC-123-XYZ") == "ABC-123-XYZ"
    analytics.track("Clicked")
    assert sent(analytics, transport)[0]["anonymousId"] == "ABC-123-XYZ"
    assert analytics.user().anonymous_id() == "ABC-123-XYZ"


@pytest.mark.parametrize("method", ["identify", "page", "track"])
def test_options_anonymous_id_persists_for_later_calls(recording: Recording, method: str) -> None:
    analytics, transport = recording()
    options = {"anonymousId": "ABC-123-XYZ"}
    if method == "identify":
        analytics.identify("user_123", {"name": "Jane Kim"}, options)
    elif method == "page":
        analytics.page(None, {}, options)
    else:
        analytics.track("Email Clicked", {"callToAction": "Signup"}, options)
    analytics.track("Later")
    with_option, later = sent(analytics, transport)
    assert with_option["anonymousId"] == "ABC-123-XYZ"
    assert later["anonymousId"] == "ABC-123-XYZ"


def test_options_user_id_affects_only_that_event(recording: Recording) -> None:
    analytics, transport = recording()
    analytics.identify("user_123")
    analytics.track("On behalf", options={"userId": "someone_else"})
    analytics.track("Mine")
    _, behalf, mine = sent(analytics, transport)
    assert behalf["userId"] == "someone_else"
    assert mine["userId"] == "user_123"
    assert analytics.user().id() == "user_123"


def test_options_timestamp_affects_only_that_event(recording: Recording) -> None:
    analytics, transport = recording(clock=FakeClock())
    analytics.track("Backfilled", options={"timestamp": "2020-01-01T00:00:00Z"})
    analytics.track("Now")
    backfilled, now = sent(analytics, transport)
    assert backfilled["timestamp"] == "2020-01-01T00:00:00.000Z"
    assert now["timestamp"] == "2026-11-29T12:00:00.000Z"


def test_identify_merges_traits_for_the_same_user(recording: Recording) -> None:
    analytics, transport = recording()
    analytics.identify("12091906-01011992", {"plan_id": "Paid, Tier 2"})
    analytics.identify("12091906-01011992", {"email": "cool.person@example.com"})
    expected = {"plan_id": "Paid, Tier 2", "email": "cool.person@example.com"}
    assert sent(analytics, transport)[-1]["traits"] == expected
    assert analytics.user().traits() == expected


def test_identify_merges_traits_cached_while_anonymous(recording: Recording) -> None:
    analytics, transport = recording()
    analytics.identify(None, {"referrer": "ad"})
    analytics.identify("user_123", {"name": "Jane Kim"})
    assert sent(analytics, transport)[-1]["traits"] == {"referrer": "ad", "name": "Jane Kim"}


def test_identify_replaces_traits_for_a_different_user(recording: Recording) -> None:
    analytics, transport = recording()
    analytics.identify("user_a", {"name": "Ann", "plan": "pro"})
    analytics.identify("user_b", {"name": "Bob"})
    assert sent(analytics, transport)[-1]["traits"] == {"name": "Bob"}
    assert analytics.user().traits() == {"name": "Bob"}


def test_user_traits_with_an_empty_mapping_clears_them(recording: Recording) -> None:
    analytics, _ = recording()
    analytics.identify("user_123", {"name": "Jane Kim"})
    assert analytics.user().traits({}) == {}
    assert analytics.user().traits() == {}
    assert analytics.user().id() == "user_123"


def test_group_traits_with_an_empty_mapping_clears_them(recording: Recording) -> None:
    analytics, _ = recording()
    analytics.group("group_1", {"name": "Acme"})
    assert analytics.group().traits({}) == {}
    assert analytics.group().traits() == {}
    assert analytics.group().id() == "group_1"


def test_reset_clears_user_id_traits_group_id_and_group_traits(recording: Recording) -> None:
    analytics, _ = recording()
    analytics.identify("user_123", {"name": "Jane Kim"})
    analytics.group("group_1", {"name": "Acme"})
    analytics.reset()
    assert analytics.user().id() is None
    assert analytics.user().traits() == {}
    assert analytics.group().id() is None
    assert analytics.group().traits() == {}


def test_options_traits_go_to_context_traits_of_that_event_only(recording: Recording) -> None:
    analytics, transport = recording()
    analytics.identify("12091906-01011992", {"plan_id": "Paid, Tier 2", "email": "c@example.com"})
    analytics.track(
        "Clicked Email", {"emailCampaign": "First Touch"}, {"traits": {"plan_id": "Paid, Tier 2"}}
    )
    analytics.track("Next")
    _, clicked, following = sent(analytics, transport)
    assert clicked["context"]["traits"] == {"plan_id": "Paid, Tier 2"}
    assert "traits" not in clicked
    assert "traits" not in following["context"]
    assert analytics.user().traits() == {"plan_id": "Paid, Tier 2", "email": "c@example.com"}


def test_unknown_option_keys_go_into_context(recording: Recording) -> None:
    analytics, transport = recording()
    analytics.track("Clicked", {}, {"ip": "1.2.3.4", "context": {"foo": "bar"}, "campaign": "x"})
    context = sent(analytics, transport)[0]["context"]
    assert context["foo"] == "bar"
    assert context["ip"] == "1.2.3.4"
    assert context["campaign"] == "x"
    assert context["library"]["name"] == "audience-python"


def test_context_ip_is_sent_as_given(recording: Recording) -> None:
    analytics, transport = recording()
    analytics.track("Order Completed", {}, {"context": {"ip": "0.0.0.0"}})
    analytics.track("Order Completed")
    anonymized, plain = sent(analytics, transport)
    assert anonymized["context"]["ip"] == "0.0.0.0"
    assert "ip" not in plain["context"]


def test_a_group_change_never_touches_the_users_anonymous_id(
    make_analytics: MakeAnalytics, tmp_path: Path
) -> None:
    folder = tmp_path / "id"
    first = make_analytics(storage="disk", storage_dir=folder)
    first.group("g1")
    anonymous_id = first.user().anonymous_id()
    fresh = make_analytics(storage="disk", storage_dir=folder)
    fresh.group("g2", {"plan": "x"})
    assert fresh.user().anonymous_id() == anonymous_id
    assert fresh.group().id() == "g2"


def test_group_merges_traits_for_the_same_group_and_replaces_them_for_another(
    recording: Recording,
) -> None:
    analytics, transport = recording()
    analytics.group("g1", {"name": "Acme"})
    analytics.group("g1", {"size": 3})
    analytics.group("g2", {"plan": "x"})
    merged, switched = sent(analytics, transport)[1:]
    assert merged["traits"] == {"name": "Acme", "size": 3}
    assert switched["traits"] == {"plan": "x"}
    assert switched["groupId"] == "g2"


def test_group_events_carry_the_users_ids(recording: Recording) -> None:
    analytics, transport = recording()
    analytics.identify("user_123")
    analytics.group("group_1", {"name": "Acme Inc"})
    identify, group = sent(analytics, transport)
    assert (group["userId"], group["anonymousId"]) == ("user_123", identify["anonymousId"])


def test_calls_before_load_are_replayed_in_call_order_with_their_own_timestamps(
    recording: Recording,
) -> None:
    clock = FakeClock()
    analytics, transport = recording(autoload=False, clock=clock)
    analytics.track("A")
    clock.advance(timedelta(seconds=1))
    analytics.identify("X")
    clock.advance(timedelta(seconds=1))
    analytics.track("B")
    clock.advance(timedelta(minutes=5))
    analytics.load()
    messages = sent(analytics, transport)
    assert [(m["type"], m["userId"]) for m in messages] == [
        ("track", None),
        ("identify", "X"),
        ("track", "X"),
    ]
    assert [m["timestamp"] for m in messages] == [
        "2026-11-29T12:00:00.000Z",
        "2026-11-29T12:00:01.000Z",
        "2026-11-29T12:00:02.000Z",
    ]


def test_ready_callbacks_run_after_the_held_calls(recording: Recording) -> None:
    analytics, _ = recording(autoload=False)
    seen: list[str | None] = []
    analytics.identify("user_123")
    analytics.ready(lambda: seen.append(analytics.user().id()))
    assert seen == []
    analytics.load()
    assert seen == ["user_123"]
    analytics.ready(lambda: seen.append("again"))
    assert seen == ["user_123", "again"]


def test_a_numeric_user_id_is_sent_as_text(recording: Recording) -> None:
    analytics, transport = recording()
    analytics.identify(12345)  # type: ignore[arg-type]
    assert sent(analytics, transport)[0]["userId"] == "12345"


def test_alias_defaults_previous_id_to_the_current_id_and_changes_no_stored_id(
    recording: Recording,
) -> None:
    analytics, transport = recording()
    analytics.identify("user_123")
    analytics.alias("new_id")
    alias = sent(analytics, transport)[-1]
    assert (alias["userId"], alias["previousId"]) == ("new_id", "user_123")
    assert analytics.user().id() == "user_123"


def test_identify_rules_as_pure_values() -> None:
    """The pure rule: same or first user merges, another user starts over."""
    anonymous = Identity(anonymous_id="a1", traits={"ref": "ad"})
    known = anonymous.identify("u1", {"plan": "pro"})
    assert known == Identity(anonymous_id="a1", user_id="u1", traits={"ref": "ad", "plan": "pro"})
    assert known.identify(None, {"age": 3}).user_id == "u1"
    switched = known.identify("u2", {"email": "x@y"})
    assert switched == Identity(anonymous_id=None, user_id="u2", traits={"email": "x@y"})


def test_a_programmer_error_before_load_raises_at_the_call_site(recording: Recording) -> None:
    analytics, transport = recording(autoload=False)
    with pytest.raises(ValidationError) as error:
        analytics.identify(["not", "an", "id"])  # type: ignore[arg-type]
    assert error.value.field == "user_id"
    analytics.load()
    assert sent(analytics, transport) == []


def test_the_seeds_flow_from_anonymous_to_identified_and_back(recording: Recording) -> None:
    """visit -> page -> track -> identify -> track -> track -> reset -> anonymous again."""
    analytics, transport = recording()
    analytics.page("Shop")
    analytics.track("Item Added")
    analytics.identify("user_123", {"name": "Jane Kim"})
    analytics.track("Checkout Started")
    analytics.track("Order Completed")
    analytics.reset()
    analytics.page("Shop")
    messages = sent(analytics, transport)
    first = messages[0]["anonymousId"]
    assert [(m["anonymousId"] == first, m["userId"]) for m in messages] == [
        (True, None),
        (True, None),
        (True, "user_123"),
        (True, "user_123"),
        (True, "user_123"),
        (False, None),
    ]
