"""The browser clients' retries against a collector that goes away and comes back.

The real clients retry when the request itself fails (no answer at all), re-sending the same
``messageId`` with backoff (Segment's adds an ``X-Retry-Count`` header, which its CORS preflight
must allow); the collector must store such an event exactly once when it is back.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from interop.browser import SourcePage
from interop.fixtures import ServerFactory
from interop.harness import CIO_BROWSER_BUNDLE, PAGES_DIR, SEGMENT_BROWSER_BUNDLE, StaticSite

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

WRITE_KEY = "wk_interop_retries"
SEGMENT_WRITE_KEY = "wk_interop_segment_retries"
WAIT_SECONDS = 20.0


def test_an_event_sent_while_the_collector_is_down_is_stored_once_after_it_returns(
    browser_context: BrowserContext, audience_server_factory: ServerFactory
) -> None:
    server = audience_server_factory(
        sources={"browser": WRITE_KEY}, browser_bundles=(CIO_BROWSER_BUNDLE,)
    )
    values = {"api_origin": server.url, "write_key:browser": WRITE_KEY}
    with StaticSite({"/": PAGES_DIR}, values) as site, server.admin() as admin:
        source_page = SourcePage(browser_context.new_page(), server.url)
        landing = source_page.open(site.url("cio-snippet.html"))
        admin.wait_for_message_ids("browser", [landing["messageId"]])

        server.stop()
        source_page.run("(analytics.track('While Down', {attempt: 1}), null)")
        deadline = time.monotonic() + WAIT_SECONDS
        while not any(r.path == "/v1/t" for r in source_page.seen) and time.monotonic() < deadline:
            source_page.page.wait_for_timeout(50)
        server.start()

        stored = admin.wait_for_events(
            "browser",
            1,
            where=lambda event: event.get("event") == "While Down",
            timeout=WAIT_SECONDS,
        )
        source_page.settle()
        attempts = [r for r in source_page.seen if r.path == "/v1/t"]
        assert len(attempts) >= 2
        assert {r.body["messageId"] for r in attempts} == {stored[0]["messageId"]}
        assert stored[0]["anonymousId"] == landing["anonymousId"]
        assert stored[0]["properties"] == {"attempt": 1}
        assert len(admin.events("browser", event="While Down")) == 1


def test_segment_retries_with_a_retry_count_header_and_the_event_is_stored_once(
    browser_context: BrowserContext, audience_server_factory: ServerFactory
) -> None:
    server = audience_server_factory(sources={"segment-browser": SEGMENT_WRITE_KEY})
    values = {"api_origin": server.url, "write_key:segment-browser": SEGMENT_WRITE_KEY}
    mounts = {"/": PAGES_DIR, "/analytics-next/bundles/": SEGMENT_BROWSER_BUNDLE}
    with StaticSite(mounts, values) as site, server.admin() as admin:
        source_page = SourcePage(browser_context.new_page(), server.url, "analytics")
        landing = source_page.open(site.url("segment-snippet.html"))
        admin.wait_for_message_ids("segment-browser", [landing["messageId"]])

        server.stop()
        source_page.run("(analytics.track('While Down', {attempt: 1}), null)")
        deadline = time.monotonic() + WAIT_SECONDS
        while not any(r.path == "/v1/t" for r in source_page.seen) and time.monotonic() < deadline:
            source_page.page.wait_for_timeout(50)
        server.start()

        stored = admin.wait_for_events(
            "segment-browser",
            1,
            where=lambda event: event.get("event") == "While Down",
            timeout=WAIT_SECONDS,
        )
        source_page.settle()
        attempts = [r for r in source_page.seen if r.path == "/v1/t"]
        assert len(attempts) >= 2
        assert any("x-retry-count" in r.headers for r in attempts[1:])
        assert {r.body["messageId"] for r in attempts} == {stored[0]["messageId"]}
        assert stored[0]["anonymousId"] == landing["anonymousId"]
        assert len(admin.events("segment-browser", event="While Down")) == 1
