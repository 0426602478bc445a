"""Stored events as the collector commits them, for resolution tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from audience.eventlog import StoredEvent

BASE = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)

EventMaker = Callable[..., StoredEvent]


def at(minute: float) -> str:
    return (BASE + timedelta(minutes=minute)).isoformat().replace("+00:00", "Z")


def make_event(
    seq: int,
    type_: str = "track",
    *,
    minute: float | None = None,
    user_id: str | None = None,
    anonymous_id: str | None = None,
    **fields: Any,
) -> StoredEvent:
    """A stored message as the collector commits it (wire names, enriched)."""
    when = at(seq if minute is None else minute)
    message: dict[str, Any] = {
        "type": type_,
        "messageId": f"m-{seq}",
        "timestamp": when,
        "receivedAt": when,
    }
    if user_id is not None:
        message["userId"] = user_id
    if anonymous_id is not None:
        message["anonymousId"] = anonymous_id
    if type_ == "track":
        message.setdefault("event", fields.pop("event", "Clicked"))
    message.update(fields)
    return StoredEvent(seq=seq, source="web", message=message)
