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
"""The largest single event the tracking API accepts, serialized."""

MAX_REQUEST_BYTES: Final = 500 * 1024
"""The largest request body the tracking API accepts, after decompression."""

MAX_BATCH_EVENTS: Final = 2500
"""The most events one batch request may carry."""


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
