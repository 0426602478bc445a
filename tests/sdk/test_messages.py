"""Messages: the wire shape of the real clients, and programmer errors raised at the call site."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from audience import __version__
from audience.errors import ValidationError

from .conftest import Recording, sent

ISO_MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
COMMON = {"type", "messageId", "timestamp", "anonymousId", "userId", "context", "integrations"}


def test_every_message_type_has_the_wire_shape_of_the_real_clients(recording: Recording) -> None:
    analytics, transport = recording()
    analytics.identify("user_123", {"name": "Jane Kim", "email": "jane@example.com"})
    analytics.track("Order Completed", {"revenue": 42.5, "currency": "USD"})
    analytics.page("Getting Started", {"url": "https://example.com/docs"}, category="Docs")
    analytics.screen("Settings")
    analytics.group("group_1", {"name": "Acme Inc"})
    analytics.alias("user_123", "anon_prev_1")
    messages = sent(analytics, transport)
    shapes = {m["type"]: set(m) - COMMON for m in messages}
    assert shapes == {
        "identify": {"traits"},
        "track": {"event", "properties"},
        "page": {"name", "category", "properties"},
        "screen": {"name", "properties"},
        "group": {"groupId", "traits"},
        "alias": {"previousId"},
    }
    for message in messages:
        assert ISO_MILLIS.match(message["timestamp"])
        assert message["context"]["library"] == {"name": "audience-python", "version": __version__}
        assert message["integrations"] == {}
    page = messages[2]
    assert page["properties"] == {
        "url": "https://example.com/docs",
        "name": "Getting Started",
        "category": "Docs",
    }
    body = transport.bodies[0]
    assert ISO_MILLIS.match(body["sentAt"])
    assert body["writeKey"] == "WRITE_KEY"


# Fields of the messages customerio-cdp-analytics 1.1.0 sent for the same calls (recorded traffic).
PEER_FIELDS = {
    "identify": {
        "integrations",
        "anonymousId",
        "timestamp",
        "context",
        "type",
        "userId",
        "traits",
        "messageId",
    },
    "track": {
        "integrations",
        "anonymousId",
        "properties",
        "timestamp",
        "context",
        "userId",
        "type",
        "event",
        "messageId",
    },
    "page": {
        "integrations",
        "anonymousId",
        "properties",
        "timestamp",
        "category",
        "context",
        "userId",
        "type",
        "name",
        "messageId",
    },
    "group": {
        "integrations",
        "anonymousId",
        "timestamp",
        "groupId",
        "context",
        "userId",
        "traits",
        "type",
        "messageId",
    },
    "alias": {
        "integrations",
        "previousId",
        "timestamp",
        "context",
        "userId",
        "type",
        "messageId",
        "anonymousId",
    },
}


def test_each_message_carries_every_field_the_python_peers_send(recording: Recording) -> None:
    analytics, transport = recording()
    analytics.identify("user_123", {"name": "Jane Kim"})
    analytics.track("Order Completed", {"revenue": 42.5})
    analytics.page("Getting Started", category="Docs")
    analytics.group("group_1", {"name": "Acme Inc"})
    analytics.alias("user_123", "anon_prev_1")
    for message in sent(analytics, transport):
        assert set(message) == PEER_FIELDS[message["type"]]


def test_ids_are_unique_and_shaped_like_uuids(recording: Recording) -> None:
    analytics, transport = recording()
    for number in range(200):
        analytics.track("Tick", {"n": number})
    ids = [m["messageId"] for m in sent(analytics, transport)]
    assert len(set(ids)) == 200
    assert all(
        re.match(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", i)
        for i in ids
    )


def test_datetimes_in_properties_are_sent_as_iso_8601(recording: Recording) -> None:
    analytics, transport = recording()
    analytics.track("Renewed", {"at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)})
    assert sent(analytics, transport)[0]["properties"]["at"] == "2026-01-02T03:04:05Z"


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda a: a.track(42), "event"),
        (lambda a: a.track(""), "event"),
        (lambda a: a.track("Clicked", ["not", "a", "mapping"]), "properties"),
        (lambda a: a.identify("user_1", "not traits"), "traits"),
        (lambda a: a.identify(["user"]), "user_id"),
        (lambda a: a.group("g1", 3), "traits"),
        (lambda a: a.track("Clicked", {"thing": object()}), "properties"),
        (lambda a: a.track("Clicked", {}, {"context": "nope"}), "options.context"),
        (lambda a: a.track("Clicked", {}, {"timestamp": "yesterday"}), "options.timestamp"),
        (lambda a: a.track("Clicked", {}, "options"), "options"),
        (lambda a: a.page(name=3), "name"),
        (lambda a: a.track("Big", {"blob": "x" * 40_000}), "properties"),
        (lambda a: a.identify("user_1", {"bio": "x" * 40_000}), "traits"),
    ],
)
def test_a_programmer_error_raises_at_the_call_site_naming_the_argument_and_queues_nothing(
    recording: Recording, call: Any, field: str
) -> None:
    analytics, transport = recording()
    with pytest.raises(ValidationError) as error:
        call(analytics)
    assert error.value.field == field
    assert sent(analytics, transport) == []
    assert analytics.user().id() is None


def test_a_failed_identify_leaves_the_stored_identity_as_it_was(recording: Recording) -> None:
    analytics, _ = recording()
    analytics.identify("user_a", {"plan": "pro"})
    anonymous_id = analytics.user().anonymous_id()
    with pytest.raises(ValidationError):
        analytics.identify("user_b", {"unencodable": object()})
    assert analytics.user().id() == "user_a"
    assert analytics.user().anonymous_id() == anonymous_id
    assert analytics.user().traits() == {"plan": "pro"}


def test_a_message_is_frozen_when_the_call_returns(recording: Recording) -> None:
    analytics, transport = recording()
    properties = {"step": 1}
    analytics.track("Step", properties)
    properties["step"] = 2
    assert sent(analytics, transport)[0]["properties"] == {"step": 1}


BAD_TIMESTAMPS: list[object] = [
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "+010000-01-01T00:00:00.000Z",
    "0000-06-01",
    datetime.min.replace(tzinfo=timezone(timedelta(hours=1))),
    datetime.max.replace(tzinfo=timezone(timedelta(hours=-1))),
    "2026-02-29T10:00:00Z",
    "2026-11-29X10:00:00",
    "",
    1764442554,
]


@pytest.mark.parametrize("timestamp", BAD_TIMESTAMPS, ids=repr)
@pytest.mark.parametrize(
    "call",
    [
        lambda a, o: a.track("Clicked", {}, o),
        lambda a, o: a.page("Home", {}, o),
        lambda a, o: a.identify("user_new", {"plan": "max"}, o),
        lambda a, o: a.group("g1", {}, o),
        lambda a, o: a.alias("user_new", "user_a", o),
        lambda a, o: a.for_user(user_id="u9").track("Clicked", {}, o),
    ],
    ids=["track", "page", "identify", "group", "alias", "for_user"],
)
def test_a_timestamp_that_is_not_iso_8601_or_leaves_the_range_is_refused_at_the_call_site(
    recording: Recording, call: Any, timestamp: object
) -> None:
    """Nothing is queued and the stored identity is as it was."""
    analytics, transport = recording()
    analytics.identify("user_a", {"plan": "pro"})
    before = (analytics.user().id(), analytics.user().anonymous_id(), analytics.user().traits())
    with pytest.raises(ValidationError) as error:
        call(analytics, {"timestamp": timestamp, "anonymousId": "from-options"})
    assert error.value.field == "options.timestamp"
    assert error.value.reason
    assert [m["type"] for m in sent(analytics, transport)] == ["identify"]
    after = (analytics.user().id(), analytics.user().anonymous_id(), analytics.user().traits())
    assert after == before
    assert analytics.group().id() is None


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000Z"),
        ("0001-01-01T01:00:00+01:00", "0001-01-01T00:00:00.000Z"),
        ("9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999Z"),
        ("9999-12-31T22:59:59.999-01:00", "9999-12-31T23:59:59.999Z"),
        ("2026-W48-7T18:55:54,106+01:00", "2026-11-29T17:55:54.106Z"),
        ("2016-12-31T23:59:60Z", "2016-12-31T23:59:59.999Z"),
        (datetime(1, 1, 1), "0001-01-01T00:00:00.000Z"),
        (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "9999-12-31T23:59:59.999Z"),
    ],
)
def test_a_timestamp_at_the_ends_of_the_range_is_sent_in_the_stored_form(
    recording: Recording, timestamp: object, expected: str
) -> None:
    analytics, transport = recording()
    analytics.track("Backfilled", {}, {"timestamp": timestamp})
    assert sent(analytics, transport)[0]["timestamp"] == expected
