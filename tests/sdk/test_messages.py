"""Messages: the wire shape of the real clients, and programmer errors raised at the call site."""

from __future__ import annotations

import re
from datetime import UTC, datetime
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
