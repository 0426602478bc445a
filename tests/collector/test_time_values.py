"""Odd but valid time values over HTTP: stored at the nearest end of the range, never a 5xx,
and never at the cost of the good events beside them."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import orjson
import pytest
from collector_support import WRITE_KEY

from audience.storage.sqlite_events import SqliteEventStore

BASIC = {"Authorization": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()}
STRICT = {**BASIC, "X-Strict-Mode": "1"}

RECEIVED = "2026-11-29T12:00:00.000Z"
EARLIEST = "0001-01-01T00:00:00.000Z"
LATEST = "9999-12-31T23:59:59.999Z"

ODD: list[tuple[dict[str, Any], dict[str, str]]] = [
    (
        {"timestamp": "0001-01-01T00:00:00+01:00"},
        {"timestamp": EARLIEST, "originalTimestamp": EARLIEST},
    ),
    (
        {"timestamp": "9999-12-31T23:59:59-01:00"},
        {"timestamp": RECEIVED, "originalTimestamp": LATEST},
    ),
    (
        {"timestamp": "9999-12-31T00:00:00Z", "sentAt": "2000-01-01T00:00:00Z"},
        {"timestamp": RECEIVED, "originalTimestamp": "9999-12-31T00:00:00.000Z"},
    ),
    (
        {"timestamp": "0001-01-02T00:00:00Z", "sentAt": "9999-12-31T23:59:59-01:00"},
        {"timestamp": EARLIEST, "sentAt": LATEST},
    ),
    (
        {"originalTimestamp": "+010000-01-01T00:00:00.000Z"},
        {"timestamp": RECEIVED, "originalTimestamp": LATEST},
    ),
    (
        {"timestamp": "2016-12-31T23:59:60Z", "receivedAt": "0001-01-01T00:00:00+01:00"},
        {"timestamp": "2016-12-31T23:59:59.999Z", "receivedAt": RECEIVED},
    ),
    (
        {"timestamp": "2026-W48-7T10:00:00,5+0100"},
        {"timestamp": "2026-11-29T09:00:00.500Z"},
    ),
]
"""Valid ISO 8601 values at or past the ends of the range, and what is stored for each."""


def track(number: int, **fields: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": f"user-{number}",
        "event": "Order Completed",
        "messageId": f"m-{number}",
        **fields,
    }


def stored_by_id(store: SqliteEventStore) -> dict[str, dict[str, Any]]:
    return {event.message["messageId"]: event.message for event in store.read_after(0, 10_000)}


@pytest.mark.parametrize("headers", [BASIC, STRICT], ids=["permissive", "strict"])
def test_a_batch_with_odd_times_stores_every_event_with_the_odd_ones_at_the_range_ends(
    client: httpx.Client, store: SqliteEventStore, headers: dict[str, str]
) -> None:
    batch = [track(0, timestamp="2026-11-29T11:00:00.000Z")]
    for number, (fields, _) in enumerate(ODD, start=1):
        batch += [track(number, **fields), track(100 + number)]
    response = client.post("/v1/batch", content=orjson.dumps({"batch": batch}), headers=headers)
    assert (response.status_code, response.json()) == (200, {})
    stored = stored_by_id(store)
    assert len(stored) == len(batch)
    assert stored["m-0"]["timestamp"] == "2026-11-29T11:00:00.000Z"
    for number, (_, expected) in enumerate(ODD, start=1):
        odd = stored[f"m-{number}"]
        assert {name: odd[name] for name in expected} == expected
        assert stored[f"m-{100 + number}"]["timestamp"] == RECEIVED


@pytest.mark.parametrize("headers", [BASIC, STRICT], ids=["permissive", "strict"])
@pytest.mark.parametrize(("fields", "expected"), ODD)
def test_a_single_event_with_an_odd_time_is_stored_at_the_range_end(
    client: httpx.Client,
    store: SqliteEventStore,
    headers: dict[str, str],
    fields: dict[str, Any],
    expected: dict[str, str],
) -> None:
    response = client.post("/v1/track", content=orjson.dumps(track(1, **fields)), headers=headers)
    assert (response.status_code, response.json()) == (200, {})
    [message] = stored_by_id(store).values()
    assert {name: message[name] for name in expected} == expected


def test_a_batch_level_sent_at_at_the_range_end_corrects_nothing_past_it(
    client: httpx.Client, store: SqliteEventStore
) -> None:
    body = {
        "batch": [track(1, timestamp="2026-11-29T11:00:00Z"), track(2)],
        "sentAt": "0001-01-01T00:00:00+01:00",
    }
    response = client.post("/v1/b", content=orjson.dumps(body), headers=BASIC)
    assert (response.status_code, response.json()) == (200, {})
    stored = stored_by_id(store)
    assert {m["sentAt"] for m in stored.values()} == {EARLIEST}
    assert stored["m-1"]["timestamp"] == RECEIVED  # a correction past 23 hours ahead is refused
    assert stored["m-1"]["originalTimestamp"] == "2026-11-29T11:00:00.000Z"


def test_an_invalid_time_drops_only_its_event_with_the_reason_in_permissive_mode(
    client: httpx.Client, store: SqliteEventStore
) -> None:
    batch = [track(1), track(2, timestamp="2026-02-29T10:00:00Z"), track(3, **ODD[0][0])]
    response = client.post("/v1/batch", content=orjson.dumps({"batch": batch}), headers=BASIC)
    assert response.status_code == 200
    assert response.json()["meta"] == {
        "stored": 2,
        "duplicates": 0,
        "dropped": 1,
        "errors": ["batch[1].timestamp: is not a date: 2026-02 has no day 29"],
    }
    assert sorted(stored_by_id(store)) == ["m-1", "m-3"]


def test_an_invalid_time_refuses_the_batch_with_a_400_naming_it_in_strict_mode(
    client: httpx.Client, store: SqliteEventStore
) -> None:
    batch = [track(1), track(2, sentAt="2026-11-29T10:30:60Z"), track(3, **ODD[1][0])]
    response = client.post("/v1/batch", content=orjson.dumps({"batch": batch}), headers=STRICT)
    assert response.status_code == 400
    assert response.json()["meta"]["errors"] == [
        "batch[1].sentAt: is not a time: a leap second is 23:59:60 UTC on a month's last day"
    ]
    assert stored_by_id(store) == {}


def test_the_stored_odd_times_are_served_by_the_admin_api(
    client: httpx.Client, stored: Any
) -> None:
    batch = [track(number, **fields) for number, (fields, _) in enumerate(ODD)]
    response = client.post("/v1/batch", content=orjson.dumps({"batch": batch}), headers=BASIC)
    assert response.status_code == 200
    events = stored(client)
    assert len(events) == len(ODD)
    assert {EARLIEST, LATEST} <= {event["originalTimestamp"] for event in events}
