"""The SDK against a real ``audience serve``: every call is stored, and stored once, whatever
its time, its size or the collector's outages."""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from audience.errors import ValidationError
from audience.sdk import HttpTransport
from audience.sdk.delivery import Response, basic_auth_header
from interop.fixtures import INTEROP_SOURCES, ServerFactory
from support import AdminApi, AudienceServer

from .conftest import MakeAnalytics

SOURCE = "sdk"


class _TwiceTransport:
    """Posts every batch twice, as a client does when an answer is lost after the commit."""

    def __init__(self, inner: HttpTransport) -> None:
        self.inner = inner

    def post(self, body: bytes) -> Response:
        self.inner.post(body)
        return self.inner.post(body)

    def after_fork_in_child(self) -> None:
        self.inner.after_fork_in_child()

    def close(self) -> None:
        self.inner.close()


def test_every_call_reaches_audience_serve_with_the_visitors_ids(
    make_analytics: MakeAnalytics, audience_server: AudienceServer, admin_api: AdminApi
) -> None:
    analytics = make_analytics(
        host=audience_server.url, write_key=INTEROP_SOURCES[SOURCE], storage="disk"
    )
    anonymous_id = analytics.user().anonymous_id()
    user_id = f"user-{uuid.uuid4().hex[:12]}"
    analytics.page("Pricing", {"plan": "pro"}, category="Docs")
    analytics.track("Item Added", {"sku": "sku-1"}, {"context": {"ip": "0.0.0.0"}})
    analytics.identify(user_id, {"name": "Jane Kim", "email": "jane@example.com"})
    analytics.screen("Settings")
    analytics.group("acme", {"name": "Acme"})
    analytics.alias(user_id, anonymous_id)
    assert analytics.flush(timeout=30)

    stored = admin_api.wait_for_events(
        SOURCE, 6, where=lambda event: event.get("anonymousId") == anonymous_id
    )
    assert [event["type"] for event in stored] == [
        "page",
        "track",
        "identify",
        "screen",
        "group",
        "alias",
    ]
    assert [event.get("userId") for event in stored] == [None, None] + [user_id] * 4
    counts = Counter(event["messageId"] for event in admin_api.events(SOURCE))
    assert all(counts[event["messageId"]] == 1 for event in stored)


def test_a_batch_posted_twice_is_stored_once(
    make_analytics: MakeAnalytics, audience_server: AudienceServer, admin_api: AdminApi
) -> None:
    write_key = INTEROP_SOURCES[SOURCE]
    analytics = make_analytics(
        transport=_TwiceTransport(HttpTransport(audience_server.url, write_key)),
        write_key=write_key,
    )
    anonymous_id = analytics.user().anonymous_id()
    for number in range(5):
        analytics.track("Sent Twice", {"n": number})
    assert analytics.flush(timeout=30)
    admin_api.wait_for_events(SOURCE, 5, where=lambda event: event["anonymousId"] == anonymous_id)
    stored = [e for e in admin_api.events(SOURCE) if e.get("anonymousId") == anonymous_id]
    assert sorted(event["properties"]["n"] for event in stored) == [0, 1, 2, 3, 4]


def test_odd_times_from_the_sdk_and_over_http_are_stored_at_the_range_ends_beside_the_good(
    make_analytics: MakeAnalytics, audience_server: AudienceServer, admin_api: AdminApi
) -> None:
    write_key = INTEROP_SOURCES[SOURCE]
    user_id = f"user-{uuid.uuid4().hex[:12]}"
    analytics = make_analytics(host=audience_server.url, write_key=write_key)
    analytics.identify(user_id, {"plan": "pro"}, {"timestamp": "9999-12-31T23:59:59.999Z"})
    for sent in ["0001-01-01T00:00:00Z", "2026-W48-7T10:00:00,5+0100", "2016-12-31T23:59:60Z"]:
        analytics.track("Odd Time", {"sent": sent}, {"timestamp": sent})
        analytics.track("Good", {"after": sent})
    with pytest.raises(ValidationError) as refused:
        analytics.track("Odd Time", {}, {"timestamp": "0001-01-01T00:00:00+01:00"})
    assert refused.value.field == "options.timestamp"
    assert analytics.flush(timeout=30)

    auth = {"Authorization": basic_auth_header(write_key)["Authorization"]}

    def odd(number: int, **fields: str) -> dict[str, Any]:
        message = {"type": "track", "userId": user_id, "event": "Odd Time", **fields}
        return {**message, "messageId": f"{user_id}-odd-{number}", "properties": {"sent": fields}}

    def good(number: int) -> dict[str, Any]:
        message = {"type": "track", "userId": user_id, "event": "Good"}
        return {**message, "messageId": f"{user_id}-good-{number}"}

    with httpx.Client(base_url=audience_server.url, headers=auth, timeout=10) as http:
        for strict, offset in (("0", 0), ("1", 10)):
            batch = [
                good(offset),
                odd(offset + 1, timestamp="0001-01-01T00:00:00+01:00"),
                good(offset + 2),
                odd(offset + 3, timestamp="9999-12-31T23:59:59-01:00"),
                odd(offset + 4, timestamp="0001-01-02T00:00:00Z", sentAt="9999-12-31T00:00:00Z"),
                good(offset + 5),
            ]
            answer = http.post(
                "/v1/batch", json={"batch": batch}, headers={"X-Strict-Mode": strict}
            )
            assert (answer.status_code, answer.json()) == (200, {})
            single = odd(offset + 6, timestamp="+010000-01-01T00:00:00.000Z")
            answer = http.post("/v1/track", json=single, headers={"X-Strict-Mode": strict})
            assert (answer.status_code, answer.json()) == (200, {})

    stored = admin_api.wait_for_events(SOURCE, 21, where=lambda e: e.get("userId") == user_id)
    by_kind = Counter(
        event["event"] if event["type"] == "track" else "identify" for event in stored
    )
    assert by_kind == {"identify": 1, "Odd Time": 11, "Good": 9}
    originals = {event["originalTimestamp"] for event in stored}
    assert {"0001-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z"} <= originals
    assert {"2026-11-29T09:00:00.500Z", "2016-12-31T23:59:59.999Z"} <= originals
    assert all(len(event["timestamp"]) == 24 for event in stored)

    admin_api.wait_until_resolved()  # the profile reflects every event stored, not the first
    profile = admin_api.wait_for_profile(timeout=20, userId=user_id)
    assert profile["firstSeen"] == "0001-01-01T00:00:00.000Z"
    assert profile["traits"] == {"plan": "pro"}
    events = admin_api.profile_events(profile["id"])
    assert events[0]["timestamp"] == "0001-01-01T00:00:00.000Z"
    assert admin_api.get(f"/profiles/{profile['id']}").status_code == 200
    assert admin_api.get("/live/events").status_code == 200


def test_a_batch_too_large_for_audience_serve_is_split_until_every_part_is_stored(
    make_analytics: MakeAnalytics, audience_server_factory: ServerFactory
) -> None:
    write_key = INTEROP_SOURCES[SOURCE]
    server = audience_server_factory(
        sources={SOURCE: write_key}, env={"AUDIENCE_MAX_REQUEST_BYTES": "60000"}
    )
    errors: list[object] = []
    analytics = make_analytics(
        host=server.url, write_key=write_key, on_error=lambda e, m: errors.append(e)
    )
    for number in range(100):
        analytics.track("Large", {"n": number, "blob": "x" * 2_000})
    assert analytics.flush(timeout=30)
    assert errors == []
    with server.admin() as admin:
        stored = admin.wait_for_events(SOURCE, 100, event="Large")
    assert sorted(event["properties"]["n"] for event in stored) == list(range(100))


def test_what_waited_through_a_collector_outage_and_an_sdk_restart_is_stored_once(
    make_analytics: MakeAnalytics, audience_server_factory: ServerFactory, tmp_path: Path
) -> None:
    write_key = INTEROP_SOURCES[SOURCE]
    server = audience_server_factory(sources={SOURCE: write_key})
    server.stop()
    folder = tmp_path / "outbox-folder"
    first = make_analytics(host=server.url, write_key=write_key, storage="disk", storage_dir=folder)
    for number in range(120):
        first.track("Waited", {"n": number})
    assert first.flush(timeout=1.0) is False
    assert first.shutdown(timeout=0.2) is False
    server.start()
    second = make_analytics(
        host=server.url, write_key=write_key, storage="disk", storage_dir=folder
    )
    assert second.flush(timeout=30)
    with server.admin() as admin:
        stored = admin.wait_for_events(SOURCE, 120, event="Waited")
    assert sorted(event["properties"]["n"] for event in stored) == list(range(120))
