"""Test doubles for programs that use audience: a clock the test moves, and ids that count.

Anything that takes a ``clock`` (``audience.clock.Clock``) or an id source
(``audience.clock.IdFactory``) takes these, the SDK's ``Analytics`` among them::

    from audience import Analytics
    from audience.sdk.testing import RecordingTransport
    from audience.testing import CountingIds, FakeClock

    clock = FakeClock()                      # 2026-11-29T12:00:00Z, monotonic 0.0
    analytics = Analytics("KEY", storage="memory", transport=RecordingTransport(),
                          clock=clock, anonymous_ids=CountingIds("anon-"))
    analytics.track("Signed Up")             # anonymousId "anon-1", that timestamp
    clock.advance(90)                        # or a timedelta: both clocks move on

Both are safe to use from several threads (the SDK's delivery worker reads the clock).
"""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta
from typing import Final

from audience.errors import ValidationError

START: Final = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
"""Where a ``FakeClock`` starts unless told otherwise."""


class FakeClock:
    """A ``Clock`` that moves only when the test moves it.

    ``advance(seconds)`` moves the wall clock (``now()``) and the monotonic clock
    (``monotonic()``) together, as time passing does. ``set(moment)`` puts the wall clock
    anywhere, backwards too, and leaves the monotonic clock alone, as a system clock being
    corrected does.
    """

    def __init__(self, start: datetime = START, *, monotonic: float = 0.0) -> None:
        self._now = _aware("start", start)
        self._monotonic = float(monotonic)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The wall-clock time, timezone-aware in UTC."""
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        """Seconds since an arbitrary start; moves only with ``advance``."""
        with self._lock:
            return self._monotonic

    def advance(self, by: float | timedelta) -> None:
        """Let ``by`` seconds (or a ``timedelta``) pass; time never runs backwards here."""
        step = by if isinstance(by, timedelta) else timedelta(seconds=by)
        if step < timedelta(0):
            raise ValidationError("by", f"must not be negative ({step}): set() moves it back")
        with self._lock:
            self._now += step
            self._monotonic += step.total_seconds()

    def set(self, moment: datetime) -> None:
        """Put the wall clock at ``moment`` (timezone-aware); ``monotonic()`` does not move."""
        aware = _aware("moment", moment)
        with self._lock:
            self._now = aware


def _aware(name: str, moment: datetime) -> datetime:
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise ValidationError(name, f"must be a timezone-aware datetime, not {moment!r}")
    return moment.astimezone(UTC)


class CountingIds:
    """An ``IdFactory`` whose ids count: ``id-1``, ``id-2`` ... (``prefix`` and ``start`` as
    given), so a test can say which id each message carries."""

    def __init__(self, prefix: str = "id-", start: int = 1) -> None:
        self.prefix = prefix
        self._counter = itertools.count(start)
        self._lock = threading.Lock()

    def new(self) -> str:
        """The next id."""
        with self._lock:
            return f"{self.prefix}{next(self._counter)}"
