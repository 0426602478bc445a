from __future__ import annotations

from typing import Any

import pytest

from audience.collector.validation import validate_message

GOOD: list[dict[str, Any]] = [
    {"type": "track", "userId": "u1", "event": "Clicked"},
    {"type": "track", "anonymousId": "a1", "event": "Clicked", "properties": {}},
    {"type": "track", "userId": 42, "event": "Numeric ids are coerced"},
    {"type": "identify", "userId": "u1", "traits": {"email": "e@x"}},
    {"type": "identify", "traits": {"email": "jane@example.com"}},
    {"type": "identify", "context": {"traits": {"email": "jane@example.com"}}},
    {"type": "page", "anonymousId": "a1", "name": "Home", "category": None},
    {"type": "screen", "userId": "u1", "name": "Home"},
    {"type": "group", "userId": "u1", "groupId": "g1", "traits": {"name": "Acme"}},
    {"type": "alias", "userId": "new", "previousId": "old"},
    {"type": "track", "userId": "u1", "event": "E", "timestamp": "2026-11-29T18:56:28.395+00:00"},
    {"type": "track", "userId": "u1", "event": "E", "timestamp": "2026-11-29T18:55:54.106Z"},
    {"type": "track", "userId": "u1", "event": "E", "messageId": "ajs-next-abc"},
]


@pytest.mark.parametrize("message", GOOD)
def test_messages_that_follow_the_spec_pass(message: dict[str, Any]) -> None:
    assert validate_message(message, "batch[0]") == []


def track(**fields: Any) -> dict[str, Any]:
    return {"type": "track", "userId": "u1", "event": "E", **fields}


BAD: list[tuple[Any, str, str]] = [
    ("not an object", "batch[0]", "not_an_object"),
    ({"userId": "u1"}, "batch[0].type", "invalid_type"),
    ({"type": "purchase", "userId": "u1"}, "batch[0].type", "invalid_type"),
    ({"type": "track", "event": "E"}, "batch[0].userId", "missing_id"),
    ({"type": "track", "userId": "   ", "event": "E"}, "batch[0].userId", "missing_id"),
    ({"type": "track", "userId": True, "event": "E"}, "batch[0].userId", "invalid_id"),
    ({"type": "track", "userId": {"a": 1}, "event": "E"}, "batch[0].userId", "invalid_id"),
    ({"type": "track", "anonymousId": ["a"], "event": "E"}, "batch[0].anonymousId", "invalid_id"),
    ({"type": "track", "userId": "u1"}, "batch[0].event", "missing_event"),
    ({"type": "track", "userId": "u1", "event": ""}, "batch[0].event", "missing_event"),
    ({"type": "track", "userId": "u1", "event": 5}, "batch[0].event", "invalid_field"),
    (track(properties=[]), "batch[0].properties", "invalid_field"),
    ({"type": "identify", "userId": "u1", "traits": "x"}, "batch[0].traits", "invalid_field"),
    (track(context=1), "batch[0].context", "invalid_field"),
    (track(integrations=[]), "batch[0].integrations", "invalid_field"),
    ({"type": "page", "userId": "u1", "name": 3}, "batch[0].name", "invalid_field"),
    (track(timestamp="yesterday"), "batch[0].timestamp", "invalid_timestamp"),
    (track(sentAt=1700000000), "batch[0].sentAt", "invalid_timestamp"),
    (track(messageId="m" * 101), "batch[0].messageId", "message_id_too_long"),
    ({"type": "group", "userId": "u1"}, "batch[0].groupId", "missing_id"),
    ({"type": "alias", "userId": "new"}, "batch[0].previousId", "missing_id"),
    ({"type": "alias", "previousId": "old", "anonymousId": "a1"}, "batch[0].userId", "missing_id"),
    ({"type": "identify", "traits": {"email": ""}}, "batch[0].userId", "missing_id"),
    ({"type": "track", "userId": float("nan"), "event": "E"}, "batch[0].userId", "invalid_id"),
]  # fmt: skip


@pytest.mark.parametrize(("message", "field", "code"), BAD)
def test_each_broken_rule_names_the_field_and_its_reason(
    message: Any, field: str, code: str
) -> None:
    problems = validate_message(message, "batch[0]")
    assert (problems[0].field, problems[0].code) == (field, code)
    assert problems[0].reason


def test_a_single_event_names_its_fields_without_a_batch_prefix() -> None:
    [problem] = validate_message({"type": "track", "userId": "u1"}, "")
    assert problem.field == "event"
    assert str(problem) == "event: is missing"


def test_every_problem_of_a_message_is_reported() -> None:
    problems = validate_message({"type": "track", "userId": [], "properties": 1}, "batch[2]")
    assert {p.field for p in problems} == {
        "batch[2].userId",
        "batch[2].properties",
        "batch[2].event",
    }


@pytest.mark.parametrize("field", ["timestamp", "originalTimestamp", "sentAt"])
@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "+010000-01-01T00:00:00.000Z",
        "2026-W48-7T18:55:54,106789123z",
        "2026-333",
        "20261129T185554+0100",
        "2016-12-31T23:59:60Z",
        "2026-11-29T24:00:00Z",
    ],
)
def test_every_valid_iso_8601_time_passes_in_every_timestamp_field(field: str, value: str) -> None:
    """Even outside the representable range: enrichment stores it at the nearest end."""
    assert validate_message(track(**{field: value}), "batch[0]") == []


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2026-13-01", "is not a date: month 13 does not exist"),
        (
            "2026-11-29T10:30:60Z",
            "is not a time: a leap second is 23:59:60 UTC on a month's last day",
        ),
        ("2026-11-29X10:00:00", "is not an ISO 8601 timestamp: '2026-11-29X10:00:00'"),
        (1764442554, "is not a string; timestamps are ISO 8601 strings"),
        ("", "is empty"),
    ],
)
def test_a_timestamp_that_is_not_iso_8601_is_refused_with_the_reason(
    value: object, reason: str
) -> None:
    [problem] = validate_message(track(timestamp=value), "batch[4]")
    assert str(problem) == f"batch[4].timestamp: {reason}"
    assert problem.code == "invalid_timestamp"
