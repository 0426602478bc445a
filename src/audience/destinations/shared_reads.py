"""One decoded copy of the log's newest events for every destination of a dispatcher.

Each destination follows the log on its own thread, and under a steady flow they all read the
same newest events within moments of one another. Decoding a stored message costs several times
reading its row, so ``SharedReads`` keeps the events it last read, for a short while, and hands
the same events to the next destination asking for them. Destinations never change the messages
they are given (a transformation works on a copy), so one copy serves them all.

The window only ever holds a stretch of the log it read whole: every event with a position in
``(after, through]``. An event leaves it ``max_age`` seconds after it was read, so an event deleted
from the store (a privacy deletion) is not handed out from memory for longer than that, and a
destination a little behind another still finds what the first one read.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence

from audience.eventlog import EventFeed, StoredEvent

WINDOW_EVENTS = 20_000
"""Most events the window holds: a few batches of every destination near the head of the log."""

MAX_AGE = 1.0
"""Seconds an event stays in the window after it was read from the store."""


class SharedReads:
    """An ``EventFeed`` that reads through ``feed`` and shares its newest reads among threads."""

    def __init__(
        self,
        feed: EventFeed,
        capacity: int = WINDOW_EVENTS,
        max_age: float = MAX_AGE,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._feed = feed
        self._capacity = capacity
        self._max_age = max_age
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._events: list[StoredEvent] = []
        self._seqs: list[int] = []
        self._read_at: list[float] = []
        self._after = self._through = -1  # no window yet

    def read_after(self, seq: int, limit: int) -> list[StoredEvent]:
        """Up to ``limit`` events after ``seq``, from the window when it holds them."""
        with self._lock:
            now = self._monotonic()
            self._evict(now)
            if not self._after <= seq <= self._through:
                events = self._feed.read_after(seq, limit)
                if events and seq > self._through:  # ahead of the window: start a new one
                    self._events, self._seqs, self._read_at = [], [], []
                    self._after = self._through = seq
                    self._extend(events, now)
                return events
            start = bisect_right(self._seqs, seq)
            events = self._events[start : start + limit]
            if len(events) < limit:
                more = self._feed.read_after(self._through, limit - len(events))
                self._extend(more, now)
                events.extend(more)
            return events

    def get_many(self, seqs: Sequence[int]) -> list[StoredEvent]:
        """The events at these positions, read from the store (retries are rare)."""
        return self._feed.get_many(seqs)

    def last_seq(self) -> int:
        """The newest position of the log."""
        return self._feed.last_seq()

    def _extend(self, events: list[StoredEvent], now: float) -> None:
        if not events:
            return
        self._events.extend(events)
        self._seqs.extend(event.seq for event in events)
        self._read_at.extend([now] * len(events))
        self._through = events[-1].seq
        self._evict(now)

    def _evict(self, now: float) -> None:
        """Drop the events read longer than ``max_age`` ago and those beyond ``capacity``."""
        cut = max(
            bisect_left(self._read_at, now - self._max_age), len(self._events) - self._capacity
        )
        if cut > 0:
            self._after = self._seqs[cut - 1]
            del self._events[:cut], self._seqs[:cut], self._read_at[:cut]
