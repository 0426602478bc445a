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
"""The largest single event the tracking API stores, serialized; a larger one is refused alone."""

MAX_REQUEST_BYTES: Final = 8 * 1024 * 1024 + 512 * 1024
"""The largest request body the tracking API reads, after decompression (8.5 MiB).

It takes the largest request any supported client builds: rudder-sdk-python closes a batch
once it passes 4 MiB, so its last event (itself up to 4 MiB) can carry it to just over 8 MiB.
"""

MAX_BATCH_EVENTS: Final = 100_000
"""The most events of one batch request that are stored; the ones past it are refused alone.

No supported client comes near it: at 8.5 MiB a batch of the smallest events they send (about
200 bytes, with their library context and message id) holds some 45,000.
"""


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
