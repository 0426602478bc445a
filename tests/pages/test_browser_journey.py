"""End to end: the real ``@customerio/cdp-analytics-browser`` in Chromium goes through the seed's
flow against ``audience serve``, and resolution turns it into one person plus a new visitor."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from interop.browser import SourcePage
from interop.fixtures import INTEROP_ADMIN_TOKEN
from interop.harness import StaticSite
from pages.support import login, screenshot
from support import AdminApi, AudienceServer

if TYPE_CHECKING:
    from playwright.sync_api import Browser

SEED_CALLS = (
    ("add to cart", "analytics.track('Added to Cart', {product_id: 'sku-1'})"),
    ("identify", "analytics.identify('user_123', {name: 'Jane Kim', email: 'jane@example.com'})"),
    ("checkout", "analytics.track('Checkout Started', {order_id: 'o-1'})"),
    ("order completed", "analytics.track('Order Completed', {order_id: 'o-1', revenue: 42.5})"),
)


@pytest.fixture(scope="module")
def flow(
    chromium: Browser, audience_server: AudienceServer, static_site: StaticSite
) -> Iterator[tuple[dict[str, dict[str, Any]], AdminApi]]:
    """page, add to cart, identify user_123, checkout, order completed, reset, page."""
    context = chromium.new_context()
    profiles = audience_server.admin()
    try:
        source = SourcePage(context.new_page(), audience_server.url)
        sent = {"page": source.open(static_site.url("cio-snippet.html"))}
        for step, call in SEED_CALLS:
            sent[step] = source.send(call)
        source.run("analytics.reset()")
        sent["page after reset"] = source.send("analytics.page()")
        profiles.wait_for_profile(1, anonymousId=sent["page after reset"]["anonymousId"])
        yield sent, profiles
    finally:
        profiles.close()
        context.close()


def test_one_profile_holds_the_anonymous_and_the_identified_activity(
    flow: tuple[dict[str, dict[str, Any]], AdminApi],
) -> None:
    sent, profiles = flow
    anonymous_id = sent["page"]["anonymousId"]
    person = profiles.wait_for_profile(5, userId="user_123")
    assert profiles.profile(anonymousId=anonymous_id) == person
    identifiers = {(i["type"], i["value"]) for i in person["identifiers"]}
    assert {("user_id", "user_123"), ("anonymous_id", anonymous_id)} <= identifiers
    assert person["traits"]["name"] == "Jane Kim"
    mine = {
        e["message"]["messageId"]: e["linkedBy"]["type"]
        for e in profiles.profile_events(person["id"])
    }
    expected = {
        "page": "anonymous_id",
        "add to cart": "anonymous_id",
        "identify": "user_id",
        "checkout": "user_id",
        "order completed": "user_id",
    }
    assert {step: mine.get(sent[step]["messageId"]) for step in expected} == expected


def test_the_page_after_reset_belongs_to_a_new_anonymous_profile(
    flow: tuple[dict[str, dict[str, Any]], AdminApi],
) -> None:
    sent, profiles = flow
    after = profiles.wait_for_profile(1, anonymousId=sent["page after reset"]["anonymousId"])
    person = profiles.wait_for_profile(5, userId="user_123")
    assert after["id"] != person["id"]
    assert [i["type"] for i in after["identifiers"]] == ["anonymous_id"]
    assert after["eventCount"] == 1


def test_the_journey_page_draws_the_seed_flow_and_the_next_anonymous_id(
    flow: tuple[dict[str, dict[str, Any]], AdminApi],
    audience_server: AudienceServer,
    chromium: Browser,
) -> None:
    sent, profiles = flow
    anonymous_id = sent["page"]["anonymousId"]
    person = profiles.wait_for_profile(5, userId="user_123")
    context = chromium.new_context()
    try:
        page = context.new_page()
        login(page, audience_server.url, INTEROP_ADMIN_TOKEN, target=f"/profiles/{person['id']}")
        timeline = page.locator(".timeline")
        timeline.wait_for()
        mine = page.locator(".phase.anonymous", has_text=anonymous_id)
        assert "Added to Cart" in mine.inner_text()
        assert "Order Completed" in page.locator(".phase.identified").last.inner_text()
        # Other tests of the session may log user_123 in too, so only the shape is checked here;
        # tests/pages/test_pages.py checks the next anonymous id with ids of its own.
        assert page.locator(".phase.after_logout").count() == 1
        screenshot(page, "browser-seed-journey")
    finally:
        context.close()
