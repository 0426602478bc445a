"""The real ``@segment/analytics-next`` in Chromium sending to ``audience serve``.

Unlike the Customer.io source, it sends ``Authorization: Basic`` with every event, so each request
is preceded by a CORS preflight the collector must answer. The site serves the standalone bundle
itself; the snippet's ``cdnURL`` is ``http://<audience>/segment``, so the client loads its settings
from audience, whose ``Segment.io`` integration points it back at audience.
"""

from __future__ import annotations

import base64
import uuid
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

SOURCE = "segment-browser"
CLOCK_SLACK = timedelta(seconds=1)
MILLISECOND = timedelta(milliseconds=1)


@dataclass
class SegmentFlow:
    source_page: SourcePage
    sent: dict[str, dict[str, Any]]
    stored: dict[str, dict[str, Any]]
    started: datetime
    finished: datetime


@pytest.fixture(scope="module")
def segment_flow(
    chromium: Browser,
    audience_server: AudienceServer,
    static_site: StaticSite,
    admin_api: AdminApi,
) -> Iterator[SegmentFlow]:
    context = chromium.new_context()
    try:
        source_page = SourcePage(context.new_page(), audience_server.url, global_name="analytics")
        started = datetime.now(UTC)
        sent = {"page": source_page.open(static_site.url("segment-snippet.html"))}
        sent["track"] = source_page.send("analytics.track('Added to Cart', {sku: 'sku-1'})")
        sent["identify"] = source_page.send(
            "analytics.identify('user_123', {name: 'Jane Kim', email: 'jane@example.com'})"
        )
        sent["group"] = source_page.send("analytics.group('acme', {name: 'Acme'})")
        sent["order"] = source_page.send(
            "analytics.track('Order Completed', {revenue: 42.5}, {context: {ip: '0.0.0.0'}})"
        )
        finished = datetime.now(UTC)
        by_id = admin_api.wait_for_message_ids(
            SOURCE, [body["messageId"] for body in sent.values()]
        )
        stored = {name: by_id[body["messageId"]] for name, body in sent.items()}
        yield SegmentFlow(source_page, sent, stored, started, finished)
    finally:
        context.close()


def test_segment_loads_its_settings_from_audience_and_they_point_back_at_it(
    browser_context: BrowserContext, audience_server: AudienceServer, static_site: StaticSite
) -> None:
    page = browser_context.new_page()
    with page.expect_response(lambda response: "/settings" in response.url) as loaded:
        page.goto(static_site.url("segment-snippet.html"))
    settings = loaded.value
    key = INTEROP_SOURCES[SOURCE]
    assert settings.url == f"{audience_server.url}/segment/v1/projects/{key}/settings"
    assert settings.status == 200
    assert settings.json()["integrations"] == {
        "Segment.io": {"apiKey": key, "apiHost": f"{audience_server.host}/v1", "protocol": "http"}
    }


def test_segment_sends_basic_auth_and_the_collector_answers_through_cors(
    segment_flow: SegmentFlow,
) -> None:
    expected = "Basic " + base64.b64encode(f"{INTEROP_SOURCES[SOURCE]}:".encode()).decode()
    for request in segment_flow.source_page.sent:
        assert request.headers["authorization"] == expected
        assert request.status == 200
    assert not [line for line in segment_flow.source_page.console if "CORS" in line]


def test_segment_events_are_stored_with_their_types_and_ids(segment_flow: SegmentFlow) -> None:
    stored = segment_flow.stored
    assert [event["type"] for event in stored.values()] == [
        "page",
        "track",
        "identify",
        "group",
        "track",
    ]
    anonymous_id = stored["page"]["anonymousId"]
    assert uuid.UUID(anonymous_id).version == 4
    assert all(event["anonymousId"] == anonymous_id for event in stored.values())
    assert stored["page"].get("userId") is None
    assert stored["track"].get("userId") is None
    assert stored["identify"]["userId"] == "user_123"
    assert stored["group"]["userId"] == "user_123"
    assert stored["order"]["userId"] == "user_123"


def test_segment_traits_properties_and_context_ip_are_stored(segment_flow: SegmentFlow) -> None:
    stored = segment_flow.stored
    assert stored["track"]["event"] == "Added to Cart"
    assert stored["track"]["properties"] == {"sku": "sku-1"}
    assert stored["identify"]["traits"] == {"name": "Jane Kim", "email": "jane@example.com"}
    assert (stored["group"]["groupId"], stored["group"]["traits"]) == ("acme", {"name": "Acme"})
    assert stored["order"]["properties"] == {"revenue": 42.5}
    assert stored["order"]["context"]["ip"] == "0.0.0.0"
    for name in ("page", "track", "identify", "group"):
        assert stored[name]["context"]["ip"] == "127.0.0.1", name
        assert stored[name]["context"]["library"]["name"] == "analytics.js", name


def test_segment_timestamps_fall_within_the_flow(segment_flow: SegmentFlow) -> None:
    earliest = segment_flow.started - CLOCK_SLACK
    latest = segment_flow.finished + CLOCK_SLACK
    for name, event in segment_flow.stored.items():
        assert earliest <= parse_timestamp(event["timestamp"]) <= latest, name
        assert earliest <= parse_timestamp(event["receivedAt"]) <= latest, name


def test_segment_batches_are_stored_with_timestamps_corrected_by_the_batch_sent_at(
    browser_context: BrowserContext,
    audience_server: AudienceServer,
    static_site: StaticSite,
    admin_api: AdminApi,
) -> None:
    source_page = SourcePage(browser_context.new_page(), audience_server.url, "analytics")
    source_page.load(static_site.url("segment-batching.html"))
    anonymous_id = source_page.anonymous_id()
    source_page.run(
        "Promise.all([1, 2, 3, 4, 5].map((i) => analytics.track('Batched ' + i, {i})))"
        ".then(() => null)"
    )

    stored = admin_api.wait_for_events(
        SOURCE, 6, where=lambda event: event.get("anonymousId") == anonymous_id
    )
    source_page.settle()
    batches = [request.body for request in source_page.seen]
    assert {request.path for request in source_page.seen} == {"/v1/b"}
    sent_at = {
        event["messageId"]: (event["timestamp"], batch["sentAt"])
        for batch in batches
        for event in batch["batch"]
    }
    tracks = sorted(event["event"] for event in stored if event["type"] == "track")
    assert tracks == [f"Batched {i}" for i in range(1, 6)]
    for event in stored:
        timestamp, batch_sent_at = sent_at[event["messageId"]]
        assert event["originalTimestamp"] == timestamp
        skew = parse_timestamp(batch_sent_at) - parse_timestamp(timestamp)
        expected = parse_timestamp(event["receivedAt"]) - skew
        assert abs(parse_timestamp(event["timestamp"]) - expected) <= MILLISECOND
        assert event["context"]["ip"] == "127.0.0.1"
