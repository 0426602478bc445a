"""Every Python client's largest batches, sent by the real packages to a running ``audience serve``.

Each client builds its batches by its own rules (read from its installed source: the byte and
count limits below are imported from the packages themselves), and audience must take every batch
it builds: an event over audience's 32 KB limit is refused alone, the others of its batch stored.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from customerio.analytics import Client as CustomerioClient  # type: ignore[import-untyped]
from customerio.analytics import consumer as customerio_consumer
from rudderstack.analytics import Client as RudderClient  # type: ignore[import-untyped]
from rudderstack.analytics import consumer as rudder_consumer
from segment.analytics import Client as SegmentClient  # type: ignore[import-untyped]
from segment.analytics import consumer as segment_consumer

from audience import Analytics
from audience.tracking import MAX_EVENT_BYTES, MAX_REQUEST_BYTES
from interop.fixtures import INTEROP_SOURCES
from support import AdminApi, AudienceServer

EVENT_PADDING = 30_000
"""Bytes of property text per event: near the 32 KB limit, so batches fill up in few events."""

SERVER_CLIENTS: dict[str, tuple[str, Any, int]] = {
    "rudder-sdk-python": ("rudder-python", RudderClient, rudder_consumer.BATCH_SIZE_LIMIT),
    "customerio-cdp-analytics": (
        "cio-python",
        CustomerioClient,
        customerio_consumer.BATCH_SIZE_LIMIT,
    ),
    "segment-analytics-python": (
        "segment-python",
        SegmentClient,
        segment_consumer.BATCH_SIZE_LIMIT,
    ),
}
"""Client -> (source, client class, the byte size at which the client closes a batch)."""


def send_with(
    client_name: str,
    server: AudienceServer,
    gzip: bool,
    calls: Callable[[Any, str], list[str]],
) -> tuple[str, list[str], list[Exception]]:
    """Make ``calls(client, user_id)`` with a real client, flush it; return what it reported."""
    source, client_class, _ = SERVER_CLIENTS[client_name]
    user_id = f"limits-{uuid.uuid4().hex[:12]}"
    errors: list[Exception] = []
    client = client_class(
        write_key=INTEROP_SOURCES[source],
        host=server.url,
        gzip=gzip,
        on_error=lambda error, batch: errors.append(error),
        max_retries=0,
        upload_size=1000,  # let the byte limit, not the count, close each batch
        upload_interval=0.5,
    )
    try:
        message_ids = calls(client, user_id)
        client.flush()
    finally:
        client.shutdown()
    return user_id, message_ids, errors


def padded_tracks(count: int, padding: int = EVENT_PADDING) -> Callable[[Any, str], list[str]]:
    def calls(client: Any, user_id: str) -> list[str]:
        ids = []
        for number in range(count):
            _, message = client.track(
                user_id=user_id, event="Padded", properties={"n": number, "pad": "x" * padding}
            )
            ids.append(message["messageId"])
        return ids

    return calls


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_rudderstack_batches_over_500_kb_are_stored_whole(
    gzip: bool, audience_server: AudienceServer, admin_api: AdminApi
) -> None:
    """rudder-sdk-python's default 100-event batches of 10 KB events (1 MB) are all stored."""
    source = SERVER_CLIENTS["rudder-sdk-python"][0]
    user_id = f"rudder-{uuid.uuid4().hex[:12]}"
    errors: list[Exception] = []
    client = RudderClient(
        write_key=INTEROP_SOURCES[source],
        host=audience_server.url,
        gzip=gzip,
        on_error=lambda error, batch: errors.append(error),
        max_retries=0,
        upload_interval=0.5,
    )
    try:
        for number in range(101):
            client.track(user_id=user_id, event="Big", properties={"n": number, "p": "x" * 10_000})
        client.flush()
    finally:
        client.shutdown()
    stored = admin_api.wait_for_events(source, 101, userId=user_id)
    assert errors == []
    assert sorted(event["properties"]["n"] for event in stored) == list(range(101))


@pytest.mark.parametrize("client_name", list(SERVER_CLIENTS))
@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_the_fullest_batch_each_client_builds_is_stored_whole(
    client_name: str, gzip: bool, audience_server: AudienceServer, admin_api: AdminApi
) -> None:
    """A client fills each batch to its own byte limit (plus the event that crossed it)."""
    batch_limit = SERVER_CLIENTS[client_name][2]
    count = batch_limit // EVENT_PADDING + 5  # more than one full batch
    user_id, message_ids, errors = send_with(
        client_name, audience_server, gzip, padded_tracks(count)
    )
    source = SERVER_CLIENTS[client_name][0]
    stored = admin_api.wait_for_events(source, count, userId=user_id, timeout=30)
    assert errors == []
    assert sorted(event["messageId"] for event in stored) == sorted(message_ids)


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_an_event_over_32_kb_in_a_rudderstack_batch_is_refused_alone(
    gzip: bool, audience_server: AudienceServer, admin_api: AdminApi
) -> None:
    """rudder-sdk-python lets events up to 4 MB through; only the one over 32 KB is refused."""

    def calls(client: Any, user_id: str) -> list[str]:
        ids = padded_tracks(10, 1_000)(client, user_id)
        client.track(user_id=user_id, event="Huge", properties={"pad": "x" * 40_000})
        return ids + padded_tracks(10, 1_000)(client, user_id)

    user_id, message_ids, errors = send_with("rudder-sdk-python", audience_server, gzip, calls)
    source = SERVER_CLIENTS["rudder-sdk-python"][0]
    stored = admin_api.wait_for_events(source, 20, userId=user_id)
    assert errors == []
    assert sorted(event["messageId"] for event in stored) == sorted(message_ids)
    assert admin_api.events(source, userId=user_id, event="Huge") == []


def test_the_segment_spec_clients_never_send_an_event_over_32_kb() -> None:
    """segment-analytics-python and customerio-cdp-analytics drop such events themselves."""
    assert segment_consumer.MAX_MSG_SIZE == customerio_consumer.MAX_MSG_SIZE == MAX_EVENT_BYTES


def test_a_rudderstack_batch_ending_in_a_4_mb_event_keeps_every_other_event(
    audience_server: AudienceServer, admin_api: AdminApi
) -> None:
    """rudder-sdk-python's largest request: just under 4 MB of events, then one of up to 4 MB."""
    below = rudder_consumer.BATCH_SIZE_LIMIT - EVENT_PADDING - 2_000
    count = below // (EVENT_PADDING + 300)

    def calls(client: Any, user_id: str) -> list[str]:
        ids = padded_tracks(count)(client, user_id)
        client.track(user_id=user_id, event="Huge", properties={"pad": "x" * 4_100_000})
        return ids

    user_id, message_ids, errors = send_with("rudder-sdk-python", audience_server, False, calls)
    source = SERVER_CLIENTS["rudder-sdk-python"][0]
    stored = admin_api.wait_for_events(source, count, userId=user_id, timeout=30)
    assert errors == []
    assert sorted(event["messageId"] for event in stored) == sorted(message_ids)
    assert 2 * rudder_consumer.MAX_MSG_SIZE < MAX_REQUEST_BYTES


def test_our_sdk_batches_stay_within_the_limits(
    audience_server: AudienceServer, admin_api: AdminApi
) -> None:
    """audience's own SDK batches 100 messages under 500 KB, each event at most 32 KB."""
    user_id = f"sdk-{uuid.uuid4().hex[:12]}"
    errors: list[Exception] = []
    analytics = Analytics(
        INTEROP_SOURCES["sdk"],
        host=audience_server.url,
        storage="memory",
        on_error=lambda error, messages: errors.append(error),
    )
    try:
        for number in range(40):
            analytics.for_user(user_id=user_id).track(
                "Padded", {"n": number, "pad": "x" * (MAX_EVENT_BYTES - 2_000)}
            )
        assert analytics.flush(timeout=30)
    finally:
        analytics.shutdown()
    stored = admin_api.wait_for_events("sdk", 40, userId=user_id)
    assert errors == []
    assert sorted(event["properties"]["n"] for event in stored) == list(range(40))
