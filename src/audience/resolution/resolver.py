"""The resolver: follows the committed event log from the profile store's cursor and applies it."""

from __future__ import annotations

import logging
import threading
from typing import Final

from audience.errors import AudienceError
from audience.eventlog import EventFeed
from audience.resolution.profile_store import ProfileStore

logger = logging.getLogger(__name__)

DEFAULT_BATCH: Final = 5000
"""Events applied per transaction at most: enough to amortise the commit, few enough to stay live.

A batch takes what the log holds past the cursor, so a resolver that keeps up applies small ones;
only a backlog fills them. Each commit writes every page the batch touched (the identifier and
profile indexes are keyed by hashes, so their pages are scattered), so a full batch of 5,000
writes about half as much to the database files per event as one of 2,000 did."""

IDLE_WAIT: Final = 0.5
"""Seconds the resolver sleeps when the log has nothing new and nobody wakes it."""


class Resolver:
    """Keeps a :class:`ProfileStore` caught up with an :class:`EventFeed`.

    Runs on its own thread after :meth:`start`; :meth:`notify` (a commit listener of the event
    store) wakes it as soon as new events are committed. Each batch commits with its cursor, so
    a restart resumes after the last batch applied.
    """

    def __init__(
        self, feed: EventFeed, store: ProfileStore, *, batch_size: int = DEFAULT_BATCH
    ) -> None:
        self.feed = feed
        self.store = store
        self.batch_size = batch_size
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._progress = threading.Condition()
        self._applied = store.cursor()

    @property
    def applied(self) -> int:
        """The ``seq`` of the last event applied."""
        return self._applied

    def step(self) -> int:
        """Apply the next batch, if any; returns how many events it held.

        The position comes from the store's cursor each time, so a second resolver on the same
        store (``audience resolve`` while the server runs) or a rebuild never makes one skip events.
        """
        position = self.store.cursor()
        events = self.feed.read_after(position, self.batch_size)
        if events:
            self.store.apply(events)
        with self._progress:
            self._applied = events[-1].seq if events else position
            self._progress.notify_all()
        return len(events)

    def catch_up(self) -> int:
        """Apply everything committed up to now; returns the number of events applied."""
        target = self.feed.last_seq()
        total = 0
        while self._applied < target:
            applied = self.step()
            if applied == 0:
                break
            total += applied
        return total

    def rebuild(self) -> int:
        """Forget every profile and recompute them all from the event log."""
        self.store.clear()
        with self._progress:
            self._applied = 0
        return self.catch_up()

    def notify(self, last_seq: int = 0) -> None:
        """Wake the resolver: new events were committed (usable as a commit listener)."""
        self._wake.set()

    def wait_for(self, seq: int, timeout: float) -> bool:
        """Block until events up to ``seq`` are applied or ``timeout`` seconds pass."""
        with self._progress:
            return self._progress.wait_for(lambda: self._applied >= seq, timeout)

    def start(self) -> None:
        """Follow the log on a background thread until :meth:`stop`."""
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="audience-resolver", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finish the batch in hand and stop the thread."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping.set()
        self._wake.set()
        thread.join()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                applied = self.step()
            except AudienceError:
                logger.exception("resolution failed; retrying after a pause")
                self._stopping.wait(IDLE_WAIT)
                continue
            if applied < self.batch_size:
                self._wake.wait(IDLE_WAIT)
