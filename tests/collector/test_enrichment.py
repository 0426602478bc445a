from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from audience.collector.enrichment import Arrival, coerce_id, corrected_timestamp, enrich
from audience.timestamps import EARLIEST_INSTANT, LATEST_INSTANT, instant_of

RECEIVED = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)
BROWSER = {"library": {"name": "analytics.js", "version": "next-0.5.11"}}
PYTHON = {"library": {"name": "analytics-python", "version": "1.1.0"}}


def enriched(message: dict[str, Any], **arrival: Any) -> dict[str, Any]:
    arrival.setdefault("client_ip", "203.0.113.9")
    return enrich(message, Arrival(RECEIVED, **arrival), lambda: "generated-id")


def test_received_at_is_the_server_clock_even_when_the_client_sends_one() -> None:
    message = enriched({"type": "track", "receivedAt": "2000-01-01T00:00:00Z"})
    assert message["receivedAt"] == "2026-11-29T12:00:00.000Z"


def test_the_timestamp_is_corrected_by_the_client_clock_skew() -> None:
    """A client clock two hours fast: the event happened 3 s before it was sent."""
    message = enriched(
        {"type": "track", "timestamp": "2026-11-29T13:59:57.000Z", "sentAt": "2026-11-29T14:00:00Z"}
    )
    assert message["timestamp"] == "2026-11-29T11:59:57.000Z"
    assert message["originalTimestamp"] == "2026-11-29T13:59:57.000Z"
    assert message["sentAt"] == "2026-11-29T14:00:00.000Z"


def test_the_batch_sent_at_applies_when_the_event_has_none() -> None:
    message = enriched(
        {"type": "track", "timestamp": "2026-11-29T10:00:00+00:00"},
        sent_at="2026-11-29T10:00:05+00:00",
    )
    assert message["timestamp"] == "2026-11-29T11:59:55.000Z"


def test_without_sent_at_the_client_timestamp_is_kept() -> None:
    message = enriched({"type": "track", "timestamp": "2026-01-01T00:00:00Z"})
    assert message["timestamp"] == "2026-01-01T00:00:00.000Z"


def test_without_any_timestamp_the_event_happened_when_it_arrived() -> None:
    message = enriched({"type": "track"})
    assert message["timestamp"] == message["originalTimestamp"] == "2026-11-29T12:00:00.000Z"


def test_a_timestamp_far_in_the_future_is_clamped_to_the_arrival() -> None:
    received = instant_of(RECEIVED)
    future = instant_of(RECEIVED + timedelta(days=3))
    assert corrected_timestamp(received, future, None) == received
    assert corrected_timestamp(received, instant_of(RECEIVED + timedelta(hours=1)), None) > received


def test_a_skew_correction_past_either_end_of_the_range_stops_at_the_range() -> None:
    """No overflow: ``receivedAt - (sentAt - timestamp)`` runs on unbounded integers."""
    received = instant_of(RECEIVED)
    assert corrected_timestamp(received, EARLIEST_INSTANT, LATEST_INSTANT) == EARLIEST_INSTANT
    assert corrected_timestamp(received, LATEST_INSTANT, EARLIEST_INSTANT) == received


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        # the time as sent is outside the range
        (
            {"timestamp": "0001-01-01T00:00:00+01:00"},
            {
                "timestamp": "0001-01-01T00:00:00.000Z",
                "originalTimestamp": "0001-01-01T00:00:00.000Z",
            },
        ),
        (
            {"timestamp": "9999-12-31T23:59:59-01:00"},
            {
                "timestamp": "2026-11-29T12:00:00.000Z",
                "originalTimestamp": "9999-12-31T23:59:59.999Z",
            },
        ),
        (
            {"timestamp": "0000-12-31T23:59:59.999Z"},
            {
                "timestamp": "0001-01-01T00:00:00.000Z",
                "originalTimestamp": "0001-01-01T00:00:00.000Z",
            },
        ),
        (
            {"timestamp": "+010000-01-01T00:00:00.000Z"},
            {
                "timestamp": "2026-11-29T12:00:00.000Z",
                "originalTimestamp": "9999-12-31T23:59:59.999Z",
            },
        ),
        # the skew correction leaves the range
        (
            {"timestamp": "9999-12-31T00:00:00Z", "sentAt": "2000-01-01T00:00:00Z"},
            {"timestamp": "2026-11-29T12:00:00.000Z", "sentAt": "2000-01-01T00:00:00.000Z"},
        ),
        (
            {"timestamp": "0001-01-02T00:00:00Z", "sentAt": "9999-01-01T00:00:00Z"},
            {
                "timestamp": "0001-01-01T00:00:00.000Z",
                "originalTimestamp": "0001-01-02T00:00:00.000Z",
            },
        ),
        (
            {"timestamp": "2026-11-29T11:00:00Z", "sentAt": "0001-01-01T00:00:00+01:00"},
            {"timestamp": "2026-11-29T12:00:00.000Z", "sentAt": "0001-01-01T00:00:00.000Z"},
        ),
        (
            {"timestamp": "2026-11-29T11:00:00Z", "sentAt": "9999-12-31T23:59:59-01:00"},
            {"timestamp": "0001-01-01T00:00:00.000Z", "sentAt": "9999-12-31T23:59:59.999Z"},
        ),
        # a client's receivedAt is replaced, however odd
        (
            {"receivedAt": "0001-01-01T00:00:00+01:00"},
            {"receivedAt": "2026-11-29T12:00:00.000Z", "timestamp": "2026-11-29T12:00:00.000Z"},
        ),
    ],
)
def test_a_time_outside_the_range_is_stored_as_the_nearest_end_of_it(
    sent: dict[str, str], stored: dict[str, str]
) -> None:
    message = enriched({"type": "track", **sent})
    assert {name: message[name] for name in stored} == stored


def test_a_batch_sent_at_outside_the_range_is_stored_at_its_end_and_skews_nothing_past_it() -> None:
    message = enriched(
        {"type": "track", "timestamp": "2026-11-29T11:00:00Z"},
        sent_at="0001-01-01T00:00:00+01:00",
    )
    assert message["sentAt"] == "0001-01-01T00:00:00.000Z"
    assert message["timestamp"] == "2026-11-29T12:00:00.000Z"
    assert message["originalTimestamp"] == "2026-11-29T11:00:00.000Z"


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("2026-W48-7T18:55:54.106Z", "2026-11-29T18:55:54.106Z"),
        ("2026-11-29 18:55:54.106Z", "2026-11-29T18:55:54.106Z"),
        ("2026-11-29t18:55:54.106Z", "2026-11-29T18:55:54.106Z"),
        ("2026-11-28T24:00:00.000Z", "2026-11-29T00:00:00.000Z"),
        ("2016-12-31T23:59:60.000Z", "2016-12-31T23:59:59.999Z"),
        ("2026-W48-7T18:55:54.106+00:00", "2026-11-29T18:55:54.106Z"),
        ("0000-11-29T18:55:54.106+00:00", "0001-01-01T00:00:00.000Z"),
        ("20261129T185554,106789+0000", "2026-11-29T18:55:54.106Z"),
    ],
)
def test_every_form_a_client_may_send_is_stored_in_the_one_sortable_form(
    sent: str, stored: str
) -> None:
    message = enriched({"type": "track", "timestamp": sent})
    assert message["originalTimestamp"] == stored


def test_naive_timestamps_are_taken_as_utc() -> None:
    message = enriched({"type": "track", "timestamp": "2026-11-29T11:00:00"})
    assert message["timestamp"] == "2026-11-29T11:00:00.000Z"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (" u1 ", "u1"),
        (42, "42"),
        (42.0, "42"),
        (1.5, "1.5"),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_ids_are_coerced_to_trimmed_strings(value: object, expected: str | None) -> None:
    assert coerce_id(value) == expected


def test_ids_of_the_message_are_coerced_and_absent_ones_are_null() -> None:
    message = enriched({"type": "group", "userId": 7, "groupId": " g1 "})
    assert message["userId"] == "7"
    assert message["anonymousId"] is None
    assert message["groupId"] == "g1"


def test_a_missing_message_id_is_generated_and_a_given_one_kept() -> None:
    assert enriched({"type": "track"})["messageId"] == "generated-id"
    assert enriched({"type": "track", "messageId": 12})["messageId"] == "12"


def test_the_client_address_fills_context_ip_for_browser_events() -> None:
    assert enriched({"type": "track", "context": dict(BROWSER)})["context"]["ip"] == "203.0.113.9"


def test_a_given_context_ip_is_never_replaced() -> None:
    """The seed: pass options.context.ip (even 0.0.0.0) to keep the address out."""
    context = {**BROWSER, "ip": "0.0.0.0"}
    assert enriched({"type": "track", "context": context})["context"]["ip"] == "0.0.0.0"


def test_server_side_libraries_get_no_context_ip() -> None:
    """The request address of a server library is the server's, not the visitor's."""
    assert "ip" not in enriched({"type": "track", "context": dict(PYTHON)})["context"]


def test_context_direct_asks_for_the_request_address() -> None:
    context = {**PYTHON, "direct": True}
    assert enriched({"type": "track", "context": context})["context"]["ip"] == "203.0.113.9"


def test_the_write_key_is_not_stored_and_the_input_is_left_unchanged() -> None:
    original = {"type": "track", "writeKey": "secret", "context": dict(BROWSER)}
    message = enriched(original)
    assert "writeKey" not in message
    assert original["writeKey"] == "secret"
    assert "ip" not in original["context"]
