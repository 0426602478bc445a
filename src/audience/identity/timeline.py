"""A profile's events in time order: where each stands, the cursor that holds a position, and
the stored messages that go with them."""

from __future__ import annotations

from typing import Any

from audience.eventlog import EventFeed
from audience.identity.profiles import LinkedEvent
from audience.paging import Position, decode_cursor


def linked_events(
    feed: EventFeed, linked: list[LinkedEvent]
) -> list[tuple[LinkedEvent, dict[str, Any]]]:
    """The stored messages of ``linked``, in the profile's time order."""
    messages = {event.seq: event.message for event in feed.get_many([e.seq for e in linked])}
    return [(event, messages[event.seq]) for event in linked if event.seq in messages]


def linked_position(event: LinkedEvent) -> Position:
    """Where an event stands in a profile's time order: its order key, then its ``seq``."""
    return (event.order_key, event.seq)


def profile_event_cursor(text: str) -> tuple[str, int]:
    """The position a profile events cursor holds; ``ValueError`` when it is not one."""
    order_key, seq = decode_cursor(text, (str, int))
    return str(order_key), int(seq)
