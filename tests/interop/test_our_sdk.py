"""Our SDK (``from audience import Analytics``, identity in memory) posting to a running
``audience serve``, driven through the seed's flow; every event is read back through the admin API.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from audience import Analytics
from audience.errors import DeliveryError
from audience.jsontypes import JSONObject
from audience.tracking import parse_timestamp
from interop.fixtures import INTEROP_SOURCES
from support import AdminApi, AudienceServer

SOURCE = "sdk"
CLOCK_SLACK = timedelta(seconds=1)


def is_uuid4(value: object) -> bool:
    try:
        return uuid.UUID(str(value)).version == 4
    except ValueError:
        return False


@dataclass
class SdkFlow:
    user_id: str
    alias_id: str
    anonymous_id: str | None
    anonymous_id_after_reset: str | None
    stored: list[dict[str, Any]]
    errors: list[DeliveryError]
    started: datetime
    finished: datetime

    def one(self, where: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The single stored event matching ``where``."""
        matches = [event for event in self.stored if where(event)]
        assert len(matches) == 1, matches
        return matches[0]

    def tracked(self, name: str) -> dict[str, Any]:
        return self.one(lambda event: event["type"] == "track" and event["event"] == name)


@pytest.fixture(scope="module")
def sdk_flow(audience_server: AudienceServer, admin_api: AdminApi) -> SdkFlow:
    """A user lands, adds to cart, logs in, checks out, pays, logs out and views a page."""
    suffix = uuid.uuid4().hex[:12]
    user_id, alias_id = f"user-{suffix}", f"crm-{suffix}"
    errors: list[DeliveryError] = []

    def on_error(error: DeliveryError, messages: list[JSONObject]) -> None:
        errors.append(error)

    started = datetime.now(UTC)
    with Analytics(
        INTEROP_SOURCES[SOURCE], host=audience_server.url, storage="memory", on_error=on_error
    ) as analytics:
        anonymous_id = analytics.user().anonymous_id()
        analytics.page("Home", {"path": "/"})
        analytics.track("Added to Cart", {"sku": "sku-1", "price": 19.99})
        analytics.identify(user_id, {"name": "Jane Kim", "email": "jane@example.com"})
        analytics.track("Checkout Started", {"order_id": "o-1"}, {"traits": {"plan_id": "Paid"}})
        analytics.track("Order Completed", {"revenue": 42.5}, {"context": {"ip": "0.0.0.0"}})
        analytics.screen("Settings", {"tab": "profile"})
        analytics.group("acme", {"name": "Acme"})
        analytics.alias(alias_id)
        analytics.reset()
        analytics.page("Home", {"path": "/"})
        anonymous_id_after_reset = analytics.user().anonymous_id()
        analytics.flush(timeout=15)
    finished = datetime.now(UTC)

    ids = {anonymous_id, anonymous_id_after_reset}
    stored = admin_api.wait_for_events(
        SOURCE,
        9,
        where=lambda event: event.get("anonymousId") in ids or event.get("userId") == user_id,
    )
    return SdkFlow(
        user_id,
        alias_id,
        anonymous_id,
        anonymous_id_after_reset,
        stored,
        errors,
        started,
        finished,
    )


def test_our_sdk_delivers_every_call_of_the_flow_without_error(sdk_flow: SdkFlow) -> None:
    assert sdk_flow.errors == []
    assert [event["type"] for event in sdk_flow.stored] == [
        "page",
        "track",
        "identify",
        "track",
        "track",
        "screen",
        "group",
        "alias",
        "page",
    ]
    assert len({event["messageId"] for event in sdk_flow.stored}) == len(sdk_flow.stored)


def test_our_sdk_keeps_one_anonymous_id_from_landing_to_login(sdk_flow: SdkFlow) -> None:
    assert is_uuid4(sdk_flow.anonymous_id)
    landing = sdk_flow.stored[0]
    assert (landing["type"], landing["anonymousId"]) == ("page", sdk_flow.anonymous_id)
    assert landing.get("userId") is None
    cart = sdk_flow.tracked("Added to Cart")
    identify = sdk_flow.one(lambda event: event["type"] == "identify")
    assert cart["anonymousId"] == identify["anonymousId"] == sdk_flow.anonymous_id
    assert cart.get("userId") is None
    assert identify["userId"] == sdk_flow.user_id
    assert identify["traits"] == {"name": "Jane Kim", "email": "jane@example.com"}


def test_our_sdk_sends_the_user_id_after_login_and_a_new_anonymous_id_after_reset(
    sdk_flow: SdkFlow,
) -> None:
    for name in ("Checkout Started", "Order Completed"):
        event = sdk_flow.tracked(name)
        assert (event["userId"], event["anonymousId"]) == (sdk_flow.user_id, sdk_flow.anonymous_id)
    assert is_uuid4(sdk_flow.anonymous_id_after_reset)
    assert sdk_flow.anonymous_id_after_reset != sdk_flow.anonymous_id
    new_id = sdk_flow.anonymous_id_after_reset
    after = sdk_flow.one(lambda event: event.get("anonymousId") == new_id)
    assert after["type"] == "page"
    assert after.get("userId") is None


def test_our_sdk_stores_properties_traits_screen_group_and_alias_fields(sdk_flow: SdkFlow) -> None:
    assert sdk_flow.tracked("Added to Cart")["properties"] == {"sku": "sku-1", "price": 19.99}
    assert sdk_flow.tracked("Order Completed")["properties"] == {"revenue": 42.5}
    screen = sdk_flow.one(lambda event: event["type"] == "screen")
    assert (screen["name"], screen["properties"]) == ("Settings", {"tab": "profile"})
    group = sdk_flow.one(lambda event: event["type"] == "group")
    assert (group["groupId"], group["traits"], group["userId"]) == (
        "acme",
        {"name": "Acme"},
        sdk_flow.user_id,
    )
    alias = sdk_flow.one(lambda event: event["type"] == "alias")
    assert (alias["userId"], alias["previousId"]) == (sdk_flow.alias_id, sdk_flow.user_id)


def test_our_sdk_puts_options_traits_in_context_of_that_event_only(sdk_flow: SdkFlow) -> None:
    assert sdk_flow.tracked("Checkout Started")["context"]["traits"] == {"plan_id": "Paid"}
    others = [event for event in sdk_flow.stored if event.get("event") != "Checkout Started"]
    assert all("traits" not in event["context"] for event in others)


def test_our_sdk_gets_no_context_ip_from_the_server_unless_it_sends_one(
    sdk_flow: SdkFlow,
) -> None:
    assert sdk_flow.tracked("Order Completed")["context"]["ip"] == "0.0.0.0"
    for event in sdk_flow.stored:
        assert event["context"]["library"]["name"] == "audience-python"
        if event.get("event") != "Order Completed":
            assert "ip" not in event["context"], event


def test_our_sdk_timestamps_fall_within_the_flow(sdk_flow: SdkFlow) -> None:
    earliest = sdk_flow.started - CLOCK_SLACK
    latest = sdk_flow.finished + CLOCK_SLACK
    for event in sdk_flow.stored:
        assert earliest <= parse_timestamp(event["timestamp"]) <= latest, event
        assert earliest <= parse_timestamp(event["receivedAt"]) <= latest, event
