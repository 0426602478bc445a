"""The real ``@customerio/cdp-analytics-browser`` in Chromium, loaded by the standard snippet from
``audience serve``, driven through the seed's flow; every event is read back through the admin API.

The page is on ``http://localhost:PORT`` and the collector on ``http://127.0.0.1:PORT``, so every
request is cross-origin, as on a real site.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from audience.tracking import parse_timestamp
from interop.browser import SourcePage
from interop.fixtures import INTEROP_SOURCES
from interop.harness import StaticSite
from support import AdminApi, AudienceServer

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext

SOURCE = "browser"
CLOCK_SLACK = timedelta(seconds=1)
MILLISECOND = timedelta(milliseconds=1)


def is_uuid4(value: object) -> bool:
    try:
        return uuid.UUID(str(value)).version == 4
    except ValueError:
        return False


def stored_by_message_id(admin_api: AdminApi, source_page: SourcePage) -> dict[str, dict[str, Any]]:
    """Wait until every event the page sent is stored; return them by messageId."""
    message_ids = [request.body["messageId"] for request in source_page.sent]
    return admin_api.wait_for_message_ids(SOURCE, message_ids)


@dataclass
class SeedFlow:
    """The seed's flow as the browser sent it and as audience stored it, step by step."""

    sent: dict[str, dict[str, Any]]
    stored: dict[str, dict[str, Any]]
    source_page: SourcePage
    started: datetime
    finished: datetime


SEED_STEPS = (
    ("add to cart", "analytics.track('Added to Cart', {product_id: 'sku-1', price: 19.99})"),
    ("identify", "analytics.identify('user_123', {name: 'Jane Kim', email: 'jane@example.com'})"),
    (
        "checkout",
        "analytics.track('Checkout Started', {order_id: 'o-1'},"
        " {traits: {plan_id: 'Paid, Tier 2'}})",
    ),
    (
        "order completed",
        "analytics.track('Order Completed', {order_id: 'o-1', revenue: 42.5},"
        " {context: {ip: '0.0.0.0'}})",
    ),
)


@pytest.fixture(scope="module")
def seed_flow(
    chromium: Browser,
    audience_server: AudienceServer,
    static_site: StaticSite,
    admin_api: AdminApi,
) -> Iterator[SeedFlow]:
    """A visitor lands, adds to cart, logs in, checks out, pays, logs out and views a page."""
    context = chromium.new_context()
    try:
        source_page = SourcePage(context.new_page(), audience_server.url)
        started = datetime.now(UTC)
        sent = {"page": source_page.open(static_site.url("cio-snippet.html"))}
        for step, call in SEED_STEPS:
            sent[step] = source_page.send(call)
        source_page.run("analytics.reset()")
        sent["page after reset"] = source_page.send("analytics.page()")
        finished = datetime.now(UTC)
        by_id = stored_by_message_id(admin_api, source_page)
        stored = {step: by_id[body["messageId"]] for step, body in sent.items()}
        yield SeedFlow(sent, stored, source_page, started, finished)
    finally:
        context.close()


def test_every_event_of_the_seed_flow_is_stored_once_with_its_type(
    seed_flow: SeedFlow, admin_api: AdminApi
) -> None:
    types = [event["type"] for event in seed_flow.stored.values()]
    assert types == ["page", "track", "identify", "track", "track", "page"]
    counts = Counter(event["messageId"] for event in admin_api.events(SOURCE, limit=1000))
    assert all(counts[event["messageId"]] == 1 for event in seed_flow.stored.values())


def test_the_collector_answers_every_browser_request_with_success_and_cors(
    seed_flow: SeedFlow,
) -> None:
    assert [request.status for request in seed_flow.source_page.sent] == [200] * 6
    assert not [line for line in seed_flow.source_page.console if "CORS" in line]
    assert len(seed_flow.source_page.seen) == len(seed_flow.source_page.sent)


def test_events_are_stored_under_the_source_of_the_write_key_from_the_settings(
    seed_flow: SeedFlow,
) -> None:
    assert {body["writeKey"] for body in seed_flow.sent.values()} == {INTEROP_SOURCES[SOURCE]}
    assert {request.path for request in seed_flow.source_page.sent} == {"/v1/p", "/v1/t", "/v1/i"}


def test_pre_login_events_and_the_identify_share_one_generated_anonymous_id(
    seed_flow: SeedFlow,
) -> None:
    stored = seed_flow.stored
    anonymous_id = stored["page"]["anonymousId"]
    assert is_uuid4(anonymous_id)
    assert stored["add to cart"]["anonymousId"] == anonymous_id
    assert stored["identify"]["anonymousId"] == anonymous_id
    assert stored["page"].get("userId") is None
    assert stored["add to cart"].get("userId") is None


def test_events_after_login_carry_the_user_id_and_keep_the_anonymous_id(
    seed_flow: SeedFlow,
) -> None:
    stored = seed_flow.stored
    for step in ("identify", "checkout", "order completed"):
        assert stored[step]["userId"] == "user_123"
        assert stored[step]["anonymousId"] == stored["page"]["anonymousId"]


def test_identify_stores_the_traits_it_was_given(seed_flow: SeedFlow) -> None:
    assert seed_flow.stored["identify"]["traits"] == {
        "name": "Jane Kim",
        "email": "jane@example.com",
    }


def test_after_reset_the_visitor_has_a_new_anonymous_id_and_no_user_id(
    seed_flow: SeedFlow,
) -> None:
    after = seed_flow.stored["page after reset"]
    assert is_uuid4(after["anonymousId"])
    assert after["anonymousId"] != seed_flow.stored["page"]["anonymousId"]
    assert after.get("userId") is None


def test_context_ip_is_recorded_from_the_browser_address(seed_flow: SeedFlow) -> None:
    for step, event in seed_flow.stored.items():
        if step != "order completed":
            assert event["context"]["ip"] == "127.0.0.1", step


def test_a_context_ip_given_by_the_page_is_kept_as_given(seed_flow: SeedFlow) -> None:
    assert seed_flow.sent["order completed"]["context"]["ip"] == "0.0.0.0"
    assert seed_flow.stored["order completed"]["context"]["ip"] == "0.0.0.0"


def test_options_traits_reach_context_traits_of_that_event_only(seed_flow: SeedFlow) -> None:
    assert seed_flow.stored["checkout"]["context"]["traits"] == {"plan_id": "Paid, Tier 2"}
    for step, event in seed_flow.stored.items():
        if step != "checkout":
            assert "traits" not in event["context"], step


def test_properties_and_the_page_context_are_stored_as_sent(
    seed_flow: SeedFlow, static_site: StaticSite
) -> None:
    stored = seed_flow.stored
    assert stored["add to cart"]["event"] == "Added to Cart"
    assert stored["add to cart"]["properties"] == {"product_id": "sku-1", "price": 19.99}
    assert stored["order completed"]["event"] == "Order Completed"
    assert stored["order completed"]["properties"] == {"order_id": "o-1", "revenue": 42.5}
    page_url = static_site.url("cio-snippet.html")
    assert stored["page"]["properties"]["url"] == page_url
    assert stored["page"]["properties"]["path"] == "/cio-snippet.html"
    for step, event in stored.items():
        assert event["context"]["page"]["url"] == page_url, step
        assert event["context"]["library"]["name"] == "analytics.js", step
        assert "HeadlessChrome" in event["context"]["userAgent"], step


def test_message_ids_are_kept_as_the_browser_sent_them(seed_flow: SeedFlow) -> None:
    for step, body in seed_flow.sent.items():
        assert seed_flow.stored[step]["messageId"] == body["messageId"]
        assert body["messageId"].startswith("ajs-next-")


def test_timestamps_fall_within_the_flow(seed_flow: SeedFlow) -> None:
    earliest = seed_flow.started - CLOCK_SLACK
    latest = seed_flow.finished + CLOCK_SLACK
    previous = earliest
    for step, event in seed_flow.stored.items():
        timestamp = parse_timestamp(event["timestamp"])
        received_at = parse_timestamp(event["receivedAt"])
        assert earliest <= timestamp <= latest, step
        assert earliest <= received_at <= latest, step
        assert timestamp >= previous - CLOCK_SLACK, step
        previous = timestamp


def test_timestamps_are_corrected_for_the_browser_clock_with_the_original_kept(
    seed_flow: SeedFlow,
) -> None:
    for step, event in seed_flow.stored.items():
        sent = seed_flow.sent[step]
        assert event["originalTimestamp"] == sent["timestamp"], step
        skew = parse_timestamp(sent["sentAt"]) - parse_timestamp(sent["timestamp"])
        expected = parse_timestamp(event["receivedAt"]) - skew
        assert abs(parse_timestamp(event["timestamp"]) - expected) <= MILLISECOND, step


def test_set_anonymous_id_before_ready_applies_to_the_queued_page_call(
    browser_context: BrowserContext,
    audience_server: AudienceServer,
    static_site: StaticSite,
    admin_api: AdminApi,
) -> None:
    source_page = SourcePage(browser_context.new_page(), audience_server.url)
    source_page.open(static_site.url("cio-set-anonymous-id.html"))
    source_page.send("analytics.track('Email Clicked', {callToAction: 'Signup'})")

    page, track = stored_by_message_id(admin_api, source_page).values()
    assert page["type"] == "page"
    assert page["anonymousId"] == "ABC-123-XYZ"
    assert track["anonymousId"] == "ABC-123-XYZ"
    assert source_page.cookies()["ajs_anonymous_id"] == "ABC-123-XYZ"


def test_an_anonymous_id_in_call_options_is_used_and_kept_for_later_calls(
    browser_context: BrowserContext,
    audience_server: AudienceServer,
    static_site: StaticSite,
    admin_api: AdminApi,
) -> None:
    source_page = SourcePage(browser_context.new_page(), audience_server.url)
    source_page.open(static_site.url("cio-snippet.html"))
    calls = [
        "analytics.identify('user_123', {name: 'Jane Kim'}, {anonymousId: 'ABC-123-XYZ'})",
        "analytics.track('Email Clicked', {callToAction: 'Signup'})",
        "analytics.page({}, {anonymousId: 'XYZ-789'})",
        "analytics.track('Email Clicked', {callToAction: 'Signup'}, {anonymousId: 'JKL-321'})",
        "analytics.track('After Override')",
    ]
    for call in calls:
        source_page.send(call)

    stored = list(stored_by_message_id(admin_api, source_page).values())
    identify, track, page, overridden, after = stored[1:]
    assert identify["type"] == "identify"
    assert (identify["userId"], identify["anonymousId"]) == ("user_123", "ABC-123-XYZ")
    assert identify["traits"] == {"name": "Jane Kim"}
    assert (track["userId"], track["anonymousId"]) == ("user_123", "ABC-123-XYZ")
    assert page["anonymousId"] == "XYZ-789"
    assert overridden["anonymousId"] == "JKL-321"
    assert after["anonymousId"] == "JKL-321"
    assert after["userId"] == "user_123"


def test_user_anonymous_id_and_set_anonymous_id_override_it_after_load(
    browser_context: BrowserContext,
    audience_server: AudienceServer,
    static_site: StaticSite,
    admin_api: AdminApi,
) -> None:
    source_page = SourcePage(browser_context.new_page(), audience_server.url)
    source_page.open(static_site.url("cio-snippet.html"))
    source_page.run("analytics.user().anonymousId('ABC-123-XYZ')")
    source_page.send("analytics.track('After user().anonymousId')")
    source_page.run("analytics.setAnonymousId('DEF-456')")
    source_page.send("analytics.track('After setAnonymousId')")

    _, first, second = stored_by_message_id(admin_api, source_page).values()
    assert first["anonymousId"] == "ABC-123-XYZ"
    assert second["anonymousId"] == "DEF-456"
    assert source_page.anonymous_id() == "DEF-456"


def test_identify_with_a_different_user_rotates_the_anonymous_id(
    browser_context: BrowserContext,
    audience_server: AudienceServer,
    static_site: StaticSite,
    admin_api: AdminApi,
) -> None:
    source_page = SourcePage(browser_context.new_page(), audience_server.url)
    source_page.open(static_site.url("cio-snippet.html"))
    source_page.send("analytics.identify('user_123')")
    source_page.send("analytics.identify('user_123')")
    source_page.send("analytics.identify('user_456')")
    source_page.send("analytics.track('As user_456')")

    page, first, again, switched, track = stored_by_message_id(admin_api, source_page).values()
    assert first["anonymousId"] == again["anonymousId"] == page["anonymousId"]
    assert switched["userId"] == "user_456"
    assert is_uuid4(switched["anonymousId"])
    assert switched["anonymousId"] != first["anonymousId"]
    assert (track["userId"], track["anonymousId"]) == ("user_456", switched["anonymousId"])


def test_a_returning_visitor_keeps_both_ids_across_page_loads(
    browser_context: BrowserContext,
    audience_server: AudienceServer,
    static_site: StaticSite,
    admin_api: AdminApi,
) -> None:
    source_page = SourcePage(browser_context.new_page(), audience_server.url)
    source_page.open(static_site.url("cio-snippet.html"))
    source_page.send("analytics.identify('user_123', {plan: 'pro'})")
    source_page.open(static_site.url("cio-snippet.html"))

    first_page, identify, second_page = stored_by_message_id(admin_api, source_page).values()
    assert second_page["anonymousId"] == first_page["anonymousId"] == identify["anonymousId"]
    assert second_page["userId"] == "user_123"
    cookies = source_page.cookies()
    assert cookies["ajs_anonymous_id"] == first_page["anonymousId"]
    assert cookies["ajs_user_id"] == "user_123"


def test_a_lost_cookie_is_restored_from_local_storage_with_the_same_anonymous_id(
    browser_context: BrowserContext,
    audience_server: AudienceServer,
    static_site: StaticSite,
    admin_api: AdminApi,
) -> None:
    source_page = SourcePage(browser_context.new_page(), audience_server.url)
    source_page.open(static_site.url("cio-snippet.html"))
    browser_context.clear_cookies()
    source_page.open(static_site.url("cio-snippet.html"))

    first, second = stored_by_message_id(admin_api, source_page).values()
    assert second["anonymousId"] == first["anonymousId"]
    assert source_page.cookies()["ajs_anonymous_id"] == first["anonymousId"]


def test_clearing_cookies_and_local_storage_gives_a_new_anonymous_id_and_no_user_id(
    browser_context: BrowserContext,
    audience_server: AudienceServer,
    static_site: StaticSite,
    admin_api: AdminApi,
) -> None:
    source_page = SourcePage(browser_context.new_page(), audience_server.url)
    source_page.open(static_site.url("cio-snippet.html"))
    source_page.send("analytics.identify('user_123')")
    browser_context.clear_cookies()
    source_page.run("localStorage.clear()")
    source_page.open(static_site.url("cio-snippet.html"))

    first, identify, after = stored_by_message_id(admin_api, source_page).values()
    assert identify["anonymousId"] == first["anonymousId"]
    assert is_uuid4(after["anonymousId"])
    assert after["anonymousId"] != first["anonymousId"]
    assert after.get("userId") is None


def test_identify_merges_traits_for_the_same_user_until_they_are_cleared(
    browser_context: BrowserContext,
    audience_server: AudienceServer,
    static_site: StaticSite,
    admin_api: AdminApi,
) -> None:
    source_page = SourcePage(browser_context.new_page(), audience_server.url)
    source_page.open(static_site.url("cio-snippet.html"))
    source_page.send("analytics.identify('user_123', {name: 'Jane Kim', email: 'jane@x.com'})")
    source_page.send("analytics.identify('user_123', {plan: 'pro'})")
    source_page.run("analytics.user().traits({})")
    source_page.send("analytics.identify('user_123', {age: 30})")

    _, first, merged, after_clear = stored_by_message_id(admin_api, source_page).values()
    assert first["traits"] == {"name": "Jane Kim", "email": "jane@x.com"}
    assert merged["traits"] == {"name": "Jane Kim", "email": "jane@x.com", "plan": "pro"}
    assert after_clear["traits"] == {"age": 30}


def test_batched_delivery_and_the_flush_on_page_leave_store_every_event(
    browser_context: BrowserContext,
    audience_server: AudienceServer,
    static_site: StaticSite,
    admin_api: AdminApi,
) -> None:
    source_page = SourcePage(browser_context.new_page(), audience_server.url)
    source_page.load(static_site.url("cio-batching.html"))
    anonymous_id = source_page.anonymous_id()
    track_range = (
        "Promise.all(Array.from({{length: {n}}}, (_, i) => analytics.track('Batch ' + {f})))"
    )
    source_page.run(track_range.format(n=12, f="(1 + i)"))
    source_page.run(track_range.format(n=3, f="(13 + i)"))
    source_page.page.goto("about:blank")

    stored = admin_api.wait_for_events(
        SOURCE, 16, where=lambda event: event.get("anonymousId") == anonymous_id
    )
    source_page.settle()
    tracks = [event["event"] for event in stored if event["type"] == "track"]
    assert sorted(tracks) == sorted(f"Batch {i}" for i in range(1, 16))
    assert [event["type"] for event in stored].count("page") == 1
    assert {request.path for request in source_page.seen} == {"/v1/b"}
    assert all(event["context"]["ip"] == "127.0.0.1" for event in stored)


def test_group_and_alias_from_the_browser_source_are_stored_with_their_fields(
    browser_context: BrowserContext,
    audience_server: AudienceServer,
    static_site: StaticSite,
    admin_api: AdminApi,
) -> None:
    source_page = SourcePage(browser_context.new_page(), audience_server.url)
    source_page.open(static_site.url("cio-snippet.html"))
    source_page.send("analytics.identify('user_123')")
    source_page.send("analytics.group('acme', {name: 'Acme', plan: 'enterprise'})")
    source_page.send("analytics.alias('user_123_crm')")

    page, _, group, alias = stored_by_message_id(admin_api, source_page).values()
    assert (group["type"], group["groupId"]) == ("group", "acme")
    assert group["traits"] == {"name": "Acme", "plan": "enterprise"}
    assert (group["userId"], group["anonymousId"]) == ("user_123", page["anonymousId"])
    assert alias["type"] == "alias"
    assert (alias["userId"], alias["previousId"]) == ("user_123_crm", "user_123")
    assert {request.path for request in source_page.sent[2:]} == {"/v1/g", "/v1/a"}


def test_user_id_and_timestamp_options_apply_to_that_event_only(
    browser_context: BrowserContext,
    audience_server: AudienceServer,
    static_site: StaticSite,
    admin_api: AdminApi,
) -> None:
    source_page = SourcePage(browser_context.new_page(), audience_server.url)
    source_page.open(static_site.url("cio-snippet.html"))
    source_page.send("analytics.identify('user_123', {name: 'Zoë Ω 🚀'})")
    source_page.send(
        "analytics.track('Imported', {note: '引用 \"quoted\"'},"
        " {userId: 'user_999', timestamp: new Date('2020-01-02T03:04:05.678Z')})"
    )
    source_page.send("analytics.track('Next')")

    _, identify, imported, following = stored_by_message_id(admin_api, source_page).values()
    assert identify["traits"] == {"name": "Zoë Ω 🚀"}
    assert imported["userId"] == "user_999"
    assert imported["properties"] == {"note": '引用 "quoted"'}
    assert imported["originalTimestamp"] == "2020-01-02T03:04:05.678Z"
    assert (
        abs(parse_timestamp(imported["timestamp"]) - datetime(2020, 1, 2, 3, 4, 5, 678000, UTC))
        <= CLOCK_SLACK
    )
    assert following["userId"] == "user_123"
    following_delay = parse_timestamp(following["receivedAt"]) - parse_timestamp(
        following["timestamp"]
    )
    assert timedelta(0) <= following_delay <= CLOCK_SLACK


def test_track_link_loads_its_chunk_from_audience_serve_and_the_click_is_stored(
    browser_context: BrowserContext,
    audience_server: AudienceServer,
    static_site: StaticSite,
    admin_api: AdminApi,
) -> None:
    source_page = SourcePage(browser_context.new_page(), audience_server.url)
    scripts: list[tuple[int, str]] = []
    source_page.page.on(
        "response",
        lambda response: (
            scripts.append((response.status, response.url))
            if response.request.resource_type == "script"
            else None
        ),
    )
    source_page.open(static_site.url("cio-snippet.html"))
    source_page.run(
        "analytics.trackLink(document.getElementById('buy'), 'Clicked Buy', {plan: 'pro'})"
        ".then(() => null)"
    )
    message_id = source_page.send_by(lambda: source_page.page.click("#buy"))["messageId"]

    stored = admin_api.wait_for_message_ids(SOURCE, [message_id])[message_id]
    assert (stored["type"], stored["event"]) == ("track", "Clicked Buy")
    assert stored["properties"] == {"plan": "pro"}
    assert (200, f"{audience_server.url}/v1/analytics-js/auto-track.js") in scripts


def test_the_snippet_audience_prints_works_when_pasted_into_a_page(
    browser_context: BrowserContext,
    audience_server: AudienceServer,
    static_site: StaticSite,
    admin_api: AdminApi,
) -> None:
    source_page = SourcePage(browser_context.new_page(), audience_server.url)
    landing = source_page.open(static_site.url("audience-snippet.html"))
    source_page.send("analytics.track('Pasted Snippet Works')")

    page, track = stored_by_message_id(admin_api, source_page).values()
    assert (page["type"], track["type"], track["event"]) == (
        "page",
        "track",
        "Pasted Snippet Works",
    )
    assert page["anonymousId"] == track["anonymousId"] == landing["anonymousId"]
    assert page["properties"]["url"] == static_site.url("audience-snippet.html")
