"""The shared vocabulary of the tracking API: message types, limits and the timestamp format."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final, Literal, TypeAlias

from audience.timestamps import datetime_of, format_instant, format_utc, instant_of, parse_instant

MessageType: TypeAlias = Literal["identify", "track", "page", "screen", "group", "alias"]

MESSAGE_TYPES: Final[tuple[MessageType, ...]] = (
    "identify",
    "track",
    "page",
    "screen",
    "group",
    "alias",
)

MAX_EVENT_BYTES: Final = 32 * 1024
"""The largest single event the tracking API accepts, serialized."""

MAX_REQUEST_BYTES: Final = 500 * 1024
"""The largest request body the tracking API accepts, after decompression."""

MAX_BATCH_EVENTS: Final = 2500
"""The most events one batch request may carry."""


def format_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and ``Z``, as the browser source writes them.

    A naive datetime is taken to be UTC. A moment whose UTC time falls outside
    0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999Z (a ``datetime.min`` with a positive
    offset) is written as the nearest end of that range.
    """
    if moment.tzinfo is UTC:
        return format_utc(moment)
    return format_instant(instant_of(moment))


def parse_timestamp(text: str, field: str = "timestamp") -> datetime:
    """Read an ISO 8601 timestamp (see ``audience.timestamps``), always returning UTC.

    Values without an offset are UTC; a value outside the representable range comes back
    as the nearest end of it. Raises ``ValidationError`` naming ``field`` otherwise.
    """
    return datetime_of(parse_instant(text, field))
