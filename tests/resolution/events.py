"""Stored events as the collector commits them, for resolution tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from audience.eventlog import StoredEvent
from audience.storage.base import EventRecord

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


def record(number: int, **message: Any) -> EventRecord:
    message.setdefault("messageId", f"m-{number}")
    message.setdefault("timestamp", f"2026-11-29T10:00:{number:02d}.000Z")
    message.setdefault("receivedAt", message["timestamp"])
    return EventRecord(
        source="web",
        message_id=message["messageId"],
        type=message["type"],
        user_id=message.get("userId"),
        anonymous_id=message.get("anonymousId"),
        event=message.get("event"),
        received_at=message["receivedAt"],
        timestamp=message["timestamp"],
        request_ip=None,
        message=orjson.dumps(message),
    )


FLOW = [
    record(1, type="page", anonymousId="a1"),
    record(2, type="track", anonymousId="a1", event="Added to Cart"),
    record(3, type="identify", anonymousId="a1", userId="u1", traits={"plan": "pro"}),
    record(4, type="track", anonymousId="a1", userId="u1", event="Order Completed"),
    record(5, type="page", anonymousId="a2"),
]
