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
