"""The SDK against a real ``audience serve``: every call is stored, and stored once."""

from __future__ import annotations

import uuid
from collections import Counter

from audience.sdk import HttpTransport
from audience.sdk.delivery import Response
from interop.fixtures import INTEROP_SOURCES
from interop.harness import AdminApi, AudienceServer

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
