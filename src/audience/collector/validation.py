"""Validation of incoming messages: pure rules, one message at a time, naming each bad field.

A message is judged on its own, so the good events of a batch are kept beside the bad
ones. Each ``Rejection`` names the field as a path (``batch[3].userId``), says what is
wrong in words, and carries a short ``code`` used to count drops by reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from audience.errors import ValidationError
from audience.timestamps import parse_instant
from audience.tracking import MESSAGE_TYPES

MAX_MESSAGE_ID_CHARS: Final = 100
"""Longer message ids are refused: Segment's profile store silently drops them."""

ID_FIELDS: Final = ("userId", "anonymousId", "previousId", "groupId", "messageId")
OBJECT_FIELDS: Final = ("properties", "traits", "context", "integrations")
TEXT_FIELDS: Final = ("event", "name", "category")
TIMESTAMP_FIELDS: Final = ("timestamp", "sentAt", "originalTimestamp")

FIELD_KINDS: Final[dict[str, str]] = {
    **dict.fromkeys(ID_FIELDS, "id"),
    **dict.fromkeys(OBJECT_FIELDS, "object"),
    **dict.fromkeys(TEXT_FIELDS, "text"),
    **dict.fromkeys(TIMESTAMP_FIELDS, "timestamp"),
}
"""The fields whose type is checked, and what they must be."""


@dataclass(frozen=True)
class Rejection:
    """Why one message (or one request) was refused."""

    field: str
    reason: str
    code: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


def is_id(value: object) -> bool:
    """Ids travel as strings; finite numbers are accepted and become strings."""
    if isinstance(value, str):
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value)


def has_id(value: object) -> bool:
    """An id that is present and not blank once trimmed."""
    if isinstance(value, str):
        return bool(value.strip())
    return value is not None and is_id(value)


def timestamp_problem(value: object) -> str | None:
    """Why ``value`` is not an ISO 8601 timestamp (``audience.timestamps``), or ``None`` if it is.

    Any valid time is accepted, including one outside the representable range: enrichment
    stores that as the nearest end of the range.
    """
    if not isinstance(value, str):
        return "is not a string; timestamps are ISO 8601 strings"
    try:
        parse_instant(value)
    except ValidationError as exc:
        return exc.reason
    return None


def is_timestamp(value: str) -> bool:
    """Whether ``value`` is an ISO 8601 timestamp."""
    return timestamp_problem(value) is None


def validate_message(message: object, where: str) -> list[Rejection]:
    """Every rule ``message`` breaks; an empty list means it can be stored.

    ``where`` is the message's path in the request (``batch[3]``, or ``""`` for a
    single-event request). ``type`` must already be set for single-event routes.
    """
    if not isinstance(message, dict):
        return [Rejection(where or "body", "is not an object", "not_an_object")]
    prefix = f"{where}." if where else ""
    kind = message.get("type")
    if kind not in MESSAGE_TYPES:
        reason = "is missing" if kind is None else f"{str(kind)[:40]!r} is not a message type"
        return [Rejection(f"{prefix}type", reason, "invalid_type")]
    problems = _field_types(message, prefix)
    problems.extend(_required_fields(message, prefix, kind))
    return problems


def _field_problem(name: str, value: object) -> Rejection | None:
    """What is wrong with one field's value, by the kind of field it is (unknown: nothing)."""
    kind = FIELD_KINDS.get(name)
    if kind is None or value is None:
        return None
    if kind in ("id", "text") and isinstance(value, str) and "\x00" in value:
        # PostgreSQL cannot store it in a text column, and no real id or name holds one.
        return Rejection(name, "contains a NUL character", "nul_character")
    if kind == "id":
        if not is_id(value):
            return Rejection(name, "is not a string", "invalid_id")
        too_long = isinstance(value, str) and len(value.strip()) > MAX_MESSAGE_ID_CHARS
        if name == "messageId" and too_long:
            reason = f"is longer than {MAX_MESSAGE_ID_CHARS} characters"
            return Rejection(name, reason, "message_id_too_long")
        return None
    if kind == "object":
        return (
            None
            if isinstance(value, dict)
            else Rejection(name, "is not an object", "invalid_field")
        )
    if kind == "text":
        return (
            None if isinstance(value, str) else Rejection(name, "is not a string", "invalid_field")
        )
    problem = timestamp_problem(value)
    if problem is None:
        return None
    return Rejection(name, problem, "invalid_timestamp")


def _field_types(message: Mapping[str, object], prefix: str) -> list[Rejection]:
    problems: list[Rejection] = []
    for name, value in message.items():
        # The well-formed cases first, without a call: this runs for every field of every event.
        kind = FIELD_KINDS.get(name)
        if kind is None or value is None:
            continue
        if kind == "object" and isinstance(value, dict):
            continue
        if (
            kind in ("id", "text")
            and isinstance(value, str)
            and len(value) <= MAX_MESSAGE_ID_CHARS
            and "\x00" not in value
        ):
            continue  # a text, or an id surely short enough
        problem = _field_problem(name, value)
        if problem is not None:
            problems.append(Rejection(prefix + problem.field, problem.reason, problem.code))
    return problems


def _required_fields(message: Mapping[str, object], prefix: str, kind: str) -> list[Rejection]:
    problems: list[Rejection] = []
    if kind == "alias":
        if not has_id(message.get("previousId")):
            problems.append(Rejection(prefix + "previousId", "is missing", "missing_id"))
        if not has_id(message.get("userId")):
            problems.append(Rejection(prefix + "userId", "is missing", "missing_id"))
        return problems
    if not (
        has_id(message.get("userId"))
        or has_id(message.get("anonymousId"))
        or (kind == "identify" and _has_email_trait(message))
    ):
        problems.append(
            Rejection(prefix + "userId", "is missing, and so is anonymousId", "missing_id")
        )
    if kind == "track":
        event = message.get("event")
        if event is None or (isinstance(event, str) and not event.strip()):
            problems.append(Rejection(prefix + "event", "is missing", "missing_event"))
    if kind == "group" and not has_id(message.get("groupId")):
        problems.append(Rejection(prefix + "groupId", "is missing", "missing_id"))
    return problems


def _has_email_trait(message: Mapping[str, object]) -> bool:
    """Customer.io identifies a person by the ``email`` trait when no id is given."""
    for holder in (message.get("traits"), _context_traits(message)):
        if isinstance(holder, dict):
            email = holder.get("email")
            if isinstance(email, str) and email.strip():
                return True
    return False


def _context_traits(message: Mapping[str, object]) -> object:
    context = message.get("context")
    return context.get("traits") if isinstance(context, dict) else None
