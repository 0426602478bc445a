"""The clock and the id generator, injected wherever time or new ids are needed."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Tells the time: ``now()`` for timestamps, ``monotonic()`` for intervals."""

    def now(self) -> datetime:
        """The current time, timezone-aware in UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary start, never going backwards."""
        ...


class IdFactory(Protocol):
    """Makes new unique ids (anonymous ids, message ids)."""

    def new(self) -> str:
        """A new id that no other call returns."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class UuidFactory:
    """Lowercase RFC 4122 version 4 UUIDs from the operating system's random source.

    ``uuid.uuid4`` reads ``os.urandom``, a cryptographic source, unlike the browser
    source's ``@lukeed/uuid`` whose ids overlap by 15 bytes from one call to the next.
    """

    def new(self) -> str:
        return str(uuid.uuid4())
