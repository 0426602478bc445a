"""The real Python SDKs, ``customerio-cdp-analytics`` and ``segment-analytics-python``, unchanged,
posting to a running ``audience serve`` with gzip off and on; every call is read back through the
admin API with its fields checked.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from customerio.analytics import Client as CustomerioClient  # type: ignore[import-untyped]
from segment.analytics import Client as SegmentClient  # type: ignore[import-untyped]

from audience.tracking import parse_timestamp
from interop.fixtures import INTEROP_SOURCES
from support import AdminApi, AudienceServer

CLOCK_SLACK = timedelta(seconds=1)
MILLISECOND = timedelta(milliseconds=1)
EXPLICIT_TIMESTAMP = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)

CLIENTS: dict[str, tuple[str, Any]] = {
    "customerio-cdp-analytics": ("cio-python", CustomerioClient),
    "segment-analytics-python": ("segment-python", SegmentClient),
}


@dataclass
class ClientRun:
    """What one SDK sent (by call name) and what audience stored for it."""

    client: str
    gzip: bool
    source: str
    user_id: str
    anonymous_id: str
    sent: dict[str, dict[str, Any]]
    stored: dict[str, dict[str, Any]]
    errors: list[Exception]
    started: datetime
    finished: datetime


def run_client(
    client_name: str, gzip: bool, server: AudienceServer, admin_api: AdminApi
) -> ClientRun:
    """Make every kind of call with a real SDK, flush it, and read the events back."""
    source, client_class = CLIENTS[client_name]
    suffix = uuid.uuid4().hex[:12]
    user_id, anonymous_id = f"user-{suffix}", f"anon-{suffix}"
    errors: list[Exception] = []
    client = client_class(
        write_key=INTEROP_SOURCES[source],
        host=server.url,
        gzip=gzip,
        on_error=lambda error, batch: errors.append(error),
        max_retries=1,
        upload_interval=0.05,
    )
    started = datetime.now(UTC)
    try:
        calls = {
            "identify": client.identify(
                user_id=user_id,
                traits={"name": "Jane Kim", "email": "jane@example.com", "plan": "pro"},
                anonymous_id=anonymous_id,
            ),
            "anonymous track": client.track(
                anonymous_id=anonymous_id,
                event="Product Viewed",
                properties={"sku": "sku-1", "price": 19.99},
                timestamp=EXPLICIT_TIMESTAMP,
            ),
            "track": client.track(
                user_id=user_id,
                event="Order Completed",
                properties={"revenue": 42.5, "currency": "USD", "items": [{"sku": "sku-1"}]},
                context={"ip": "203.0.113.9"},
            ),
            "page": client.page(
                user_id=user_id,
                category="Docs",
                name="Quick Start",
                properties={"url": "https://example.com/docs"},
            ),
            "screen": client.screen(
                user_id=user_id, name="Settings", properties={"tab": "profile"}
            ),
            "group": client.group(
                user_id=user_id, group_id="acme", traits={"name": "Acme", "employees": 42}
            ),
            "alias": client.alias(previous_id=anonymous_id, user_id=user_id),
        }
        client.flush()
    finally:
        client.shutdown()
    finished = datetime.now(UTC)
    sent = {name: message for name, (_, message) in calls.items()}
    by_id = admin_api.wait_for_message_ids(source, [m["messageId"] for m in sent.values()])
    stored = {name: by_id[message["messageId"]] for name, message in sent.items()}
    return ClientRun(
        client_name, gzip, source, user_id, anonymous_id, sent, stored, errors, started, finished
    )


@pytest.fixture(
    scope="module",
    params=[(name, gzip) for name in CLIENTS for gzip in (False, True)],
    ids=lambda param: f"{param[0]}-{'gzip' if param[1] else 'plain'}",
)
def client_run(
    request: pytest.FixtureRequest, audience_server: AudienceServer, admin_api: AdminApi
) -> ClientRun:
    client_name, gzip = request.param
    return run_client(client_name, gzip, audience_server, admin_api)


def test_the_sdk_reports_no_delivery_error(client_run: ClientRun) -> None:
    assert client_run.errors == []


def test_every_call_is_stored_once_with_its_type(
    client_run: ClientRun, admin_api: AdminApi
) -> None:
    types = {name: event["type"] for name, event in client_run.stored.items()}
    assert types == {
        "identify": "identify",
        "anonymous track": "track",
        "track": "track",
        "page": "page",
        "screen": "screen",
        "group": "group",
        "alias": "alias",
    }
    counts = Counter(event["messageId"] for event in admin_api.events(client_run.source))
    assert all(counts[event["messageId"]] == 1 for event in client_run.stored.values())


def test_user_and_anonymous_ids_are_stored_as_sent(client_run: ClientRun) -> None:
    stored = client_run.stored
    assert stored["identify"]["userId"] == client_run.user_id
    assert stored["identify"]["anonymousId"] == client_run.anonymous_id
    assert stored["anonymous track"]["anonymousId"] == client_run.anonymous_id
    assert stored["anonymous track"].get("userId") is None
    for name in ("track", "page", "screen", "group", "alias"):
        assert stored[name]["userId"] == client_run.user_id, name
    assert stored["alias"]["previousId"] == client_run.anonymous_id


def test_traits_properties_and_names_are_stored_as_sent(client_run: ClientRun) -> None:
    stored = client_run.stored
    assert stored["identify"]["traits"] == {
        "name": "Jane Kim",
        "email": "jane@example.com",
        "plan": "pro",
    }
    assert stored["anonymous track"]["event"] == "Product Viewed"
    assert stored["anonymous track"]["properties"] == {"sku": "sku-1", "price": 19.99}
    assert stored["track"]["event"] == "Order Completed"
    assert stored["track"]["properties"] == {
        "revenue": 42.5,
        "currency": "USD",
        "items": [{"sku": "sku-1"}],
    }
    assert (stored["page"]["category"], stored["page"]["name"]) == ("Docs", "Quick Start")
    assert stored["page"]["properties"]["url"] == "https://example.com/docs"
    assert stored["screen"]["name"] == "Settings"
    assert stored["screen"]["properties"] == {"tab": "profile"}
    assert stored["group"]["groupId"] == "acme"
    assert stored["group"]["traits"] == {"name": "Acme", "employees": 42}


def test_a_server_side_library_gets_no_context_ip_unless_it_sends_one(
    client_run: ClientRun,
) -> None:
    for name, event in client_run.stored.items():
        assert event["context"]["library"]["name"] == "analytics-python", name
        if name == "track":
            assert event["context"]["ip"] == "203.0.113.9"
        else:
            assert "ip" not in event["context"], name


def test_timestamps_are_the_call_times_and_receipt_is_within_the_run(
    client_run: ClientRun,
) -> None:
    earliest = client_run.started - CLOCK_SLACK
    latest = client_run.finished + CLOCK_SLACK
    for name, event in client_run.stored.items():
        received_at = parse_timestamp(event["receivedAt"])
        timestamp = parse_timestamp(event["timestamp"])
        assert earliest <= received_at <= latest, name
        if name == "anonymous track":
            assert abs(timestamp - EXPLICIT_TIMESTAMP) <= CLOCK_SLACK
        else:
            assert earliest <= timestamp <= latest, name


def test_timestamps_are_corrected_by_the_batch_sent_at_with_the_original_kept(
    client_run: ClientRun,
) -> None:
    for name, event in client_run.stored.items():
        sent_timestamp = parse_timestamp(client_run.sent[name]["timestamp"])
        assert parse_timestamp(event["originalTimestamp"]) == sent_timestamp, name
        skew = parse_timestamp(event["sentAt"]) - parse_timestamp(event["originalTimestamp"])
        expected = parse_timestamp(event["receivedAt"]) - skew
        assert abs(parse_timestamp(event["timestamp"]) - expected) <= MILLISECOND, name


def test_a_customerio_region_key_goes_as_a_bearer_token_and_is_accepted(
    audience_server: AudienceServer, admin_api: AdminApi
) -> None:
    errors: list[Exception] = []
    client = CustomerioClient(
        write_key=INTEROP_SOURCES["cio-python-region"],
        host=audience_server.url,
        on_error=lambda error, batch: errors.append(error),
        max_retries=1,
        upload_interval=0.05,
    )
    try:
        _, message = client.track(user_id="user_123", event="Region Key")
        client.flush()
    finally:
        client.shutdown()

    stored = admin_api.wait_for_message_ids("cio-python-region", [message["messageId"]])
    assert errors == []
    event = stored[message["messageId"]]
    assert (event["type"], event["event"], event["userId"]) == ("track", "Region Key", "user_123")


@pytest.mark.parametrize("client_name", list(CLIENTS))
def test_a_burst_of_a_thousand_events_is_stored_completely_and_once(
    client_name: str, audience_server: AudienceServer, admin_api: AdminApi
) -> None:
    source, client_class = CLIENTS[client_name]
    user_id = f"burst-{uuid.uuid4().hex[:12]}"
    errors: list[Exception] = []
    client = client_class(
        write_key=INTEROP_SOURCES[source],
        host=audience_server.url,
        on_error=lambda error, batch: errors.append(error),
        max_retries=1,
    )
    try:
        for i in range(1000):
            client.track(user_id=user_id, event="Burst Event", properties={"i": i})
        client.flush()
    finally:
        client.shutdown()

    stored = admin_api.wait_for_events(source, 1000, userId=user_id)
    assert errors == []
    assert sorted(event["properties"]["i"] for event in stored) == list(range(1000))
    assert len({event["messageId"] for event in stored}) == 1000
