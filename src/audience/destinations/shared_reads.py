"""One decoded copy of the log's newest events for every destination of a dispatcher.

Each destination follows the log on its own thread, and under a steady flow they all read the
same newest events within moments of one another. Decoding a stored message costs several times
reading its row, so ``SharedReads`` keeps the events it last read, for a short while, and hands
the same events to the next destination asking for them. Destinations never change the messages
they are given (a transformation works on a copy), so one copy serves them all.

The window only ever holds a stretch of the log it read whole: every event with a position in
``(after, through]``. It is dropped when it is older than ``max_age`` seconds, so an event deleted
from the store (a privacy deletion) is not handed out from memory for longer than that.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Sequence

from audience.eventlog import EventFeed, StoredEvent

WINDOW_EVENTS = 20_000
"""Most events the window holds: a few batches of every destination near the head of the log."""

MAX_AGE = 0.5
"""Seconds a window is used after its first read; then the next read starts a new one."""


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
        self._after = self._through = 0
        self._started: float | None = None
        """When the window was first read; ``None`` while there is none."""

    def read_after(self, seq: int, limit: int) -> list[StoredEvent]:
        """Up to ``limit`` events after ``seq``, from the window when it holds them."""
        with self._lock:
            now = self._monotonic()
            if self._started is not None and now - self._started > self._max_age:
                self._events, self._seqs, self._started = [], [], None
            if self._started is None or not self._after <= seq <= self._through:
                events = self._feed.read_after(seq, limit)
                if events and (self._started is None or seq > self._through):
                    self._start(seq, events, now)
                return events
            start = bisect_right(self._seqs, seq)
            events = self._events[start : start + limit]
            if len(events) < limit:
                more = self._feed.read_after(self._through, limit - len(events))
                self._extend(more)
                events.extend(more)
            return events

    def get_many(self, seqs: Sequence[int]) -> list[StoredEvent]:
        """The events at these positions, read from the store (retries are rare)."""
        return self._feed.get_many(seqs)

    def last_seq(self) -> int:
        """The newest position of the log."""
        return self._feed.last_seq()

    def _start(self, after: int, events: list[StoredEvent], now: float) -> None:
        self._events = list(events)
        self._seqs = [event.seq for event in events]
        self._after, self._through = after, events[-1].seq
        self._started = now

    def _extend(self, events: list[StoredEvent]) -> None:
        if not events:
            return
        self._events.extend(events)
        self._seqs.extend(event.seq for event in events)
        self._through = events[-1].seq
        excess = len(self._events) - self._capacity
        if excess > 0:
            self._after = self._seqs[excess - 1]
            del self._events[:excess], self._seqs[:excess]
