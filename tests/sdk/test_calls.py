"""The six calls answer the same way whoever offers them: ``Analytics`` (loaded or not yet),
a ``Tracker`` from ``for_store`` and a web request's ``Visitor``."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from audience import Analytics
from audience.errors import ValidationError
from audience.sdk import Group, MemoryStore, Tracker
from audience.sdk.calls import CallMethods
from audience.testing import FakeClock
from audience.web import CookieSettings, Visitor

from .conftest import Recording, sent

CALLS = ("page", "screen", "track", "identify", "group", "alias")

Sender = Callable[[Analytics], CallMethods]
"""Makes one kind of sender over a client; the identity starts empty for each."""

SENDERS: dict[str, Sender] = {
    "analytics": lambda analytics: analytics,
    "tracker": lambda analytics: analytics.for_store(MemoryStore()),
    "visitor": lambda analytics: Visitor(
        analytics, {}, host="www.example.com", settings=CookieSettings()
    ),
}


@pytest.mark.parametrize("name", CALLS)
def test_every_sender_offers_each_call_with_one_signature_and_one_docstring(name: str) -> None:
    methods = [getattr(sender, name) for sender in (Analytics, Tracker, Visitor)]
    assert methods[0] is methods[1] is methods[2]
    assert inspect.getdoc(methods[0])


def journey(sender: CallMethods) -> None:
    sender.page("Home", {"path": "/"}, category="Docs")
    sender.screen("Settings", {"tab": "privacy"})
    sender.track("Added To Cart", {"sku": "A-1"}, {"context": {"ip": "0.0.0.0"}})
    sender.identify("user_123", {"plan": "pro"})
    sender.group("acme", {"seats": 3})
    sender.alias("user_456")
    sender.track("Checkout Started", options={"traits": {"plan": "pro"}})


def comparable(message: dict[str, Any], anonymous_id: str | None) -> dict[str, Any]:
    """The message without what differs by nature: its id, and the anonymous id minted."""
    shown = {key: value for key, value in message.items() if key != "messageId"}
    assert shown["anonymousId"] == anonymous_id
    shown["anonymousId"] = "minted"
    return shown


def test_every_sender_sends_the_same_messages_for_the_same_calls(recording: Recording) -> None:
    """Same calls, same identity rules, same messages, whichever sender was used."""
    journeys: dict[str, list[dict[str, Any]]] = {}
    for label, make in SENDERS.items():
        analytics, transport = recording(clock=FakeClock())
        sender = make(analytics)
        journey(sender)
        anonymous_id = sender.user().anonymous_id()
        journeys[label] = [comparable(m, anonymous_id) for m in sent(analytics, transport)]
    assert journeys["analytics"] == journeys["tracker"] == journeys["visitor"]
    assert [m["type"] for m in journeys["analytics"]] == [
        "page",
        "screen",
        "track",
        "identify",
        "group",
        "alias",
        "track",
    ]


BAD_CALLS: list[tuple[Callable[[CallMethods], object], str]] = [
    (lambda s: s.track(""), "event"),
    (lambda s: s.track("Signed Up", ["not", "a", "mapping"]), "properties"),  # type: ignore[arg-type]
    (lambda s: s.track("Signed Up", options={"timestamp": "yesterday"}), "options.timestamp"),
    (lambda s: s.page(7), "name"),  # type: ignore[arg-type]
    (lambda s: s.screen("Home", category=["x"]), "category"),  # type: ignore[arg-type]
    (lambda s: s.identify(["not", "an", "id"]), "user_id"),  # type: ignore[arg-type]
    (lambda s: s.identify("user_1", "plan=pro"), "traits"),  # type: ignore[arg-type]
    (lambda s: s.group(3.5), "group_id"),  # type: ignore[arg-type]
    (lambda s: s.alias(""), "user_id"),
    (lambda s: s.alias("user_2", {"id": 1}), "previous_id"),  # type: ignore[arg-type]
    (lambda s: s.track("Signed Up", options=["x"]), "options"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize("loaded", [True, False], ids=["loaded", "before-load"])
@pytest.mark.parametrize("label", list(SENDERS))
@pytest.mark.parametrize(("call", "field"), BAD_CALLS)
def test_every_sender_refuses_a_wrong_argument_at_the_call_site_naming_it(
    recording: Recording,
    label: str,
    loaded: bool,
    call: Callable[[CallMethods], object],
    field: str,
) -> None:
    """Before ``load()`` too: nothing is held, nothing is sent."""
    analytics, transport = recording(autoload=loaded)
    with pytest.raises(ValidationError) as error:
        call(SENDERS[label](analytics))
    assert error.value.field == field
    analytics.load()
    assert sent(analytics, transport) == []


@pytest.mark.parametrize("label", list(SENDERS))
def test_group_without_arguments_reads_the_current_group_and_sends_nothing(
    recording: Recording, label: str
) -> None:
    analytics, transport = recording()
    sender = SENDERS[label](analytics)
    sender.group("acme", {"seats": 3})
    group = sender.group()
    assert isinstance(group, Group)
    assert (group.id(), group.traits()) == ("acme", {"seats": 3})
    assert [m["type"] for m in sent(analytics, transport)] == ["group"]


def test_a_call_held_until_load_with_an_empty_timestamp_option_keeps_the_time_it_was_made(
    recording: Recording,
) -> None:
    """``options={"timestamp": None}`` says no timestamp: the call's own time, not load()'s."""
    clock = FakeClock()
    analytics, transport = recording(autoload=False, clock=clock)
    analytics.track("Consent Asked", options={"timestamp": None})
    clock.advance(timedelta(minutes=5))
    analytics.load()
    (message,) = sent(analytics, transport)
    assert message["timestamp"] == "2026-11-29T12:00:00.000Z"


def test_a_held_call_that_its_identity_refuses_at_load_is_logged_and_the_others_are_sent(
    recording: Recording, caplog: pytest.LogCaptureFixture
) -> None:
    """A group call with no group id is refused only once the stored identity is known."""
    analytics, transport = recording(autoload=False)
    analytics.group(traits={"seats": 3})
    analytics.track("After")
    analytics.load()
    assert [m["event"] for m in sent(analytics, transport)] == ["After"]
    assert "a call held until load() could not be sent" in caplog.text
