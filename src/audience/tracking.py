"""The shared vocabulary of the tracking API: message types, limits and the timestamp format."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final, Literal, TypeAlias

from audience.errors import ValidationError

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

    A naive datetime is taken to be UTC.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_timestamp(text: str, field: str = "timestamp") -> datetime:
    """Read an ISO 8601 timestamp as the clients send it, always returning UTC.

    Accepts ``Z`` or a ``±hh:mm`` offset, milli- or microseconds, and naive values
    (taken as UTC). Raises ``ValidationError`` naming ``field`` otherwise.
    """
    candidate = text.strip()
    if candidate.endswith(("Z", "z")):
        candidate = candidate[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(candidate)
    except ValueError as exc:
        raise ValidationError(field, f"is not an ISO 8601 timestamp: {text[:40]!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
