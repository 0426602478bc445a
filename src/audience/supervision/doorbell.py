"""The doorbell: how the collector tells a child process that new events were committed.

It is rung on the event store's only writer thread after every commit, so ringing must never
wait, whatever the child is doing: dead, stopped (SIGSTOP), busy, slow, or not started yet.
A doorbell is a pipe whose write end is non-blocking. A ring writes one byte: when the pipe
is full the child has not read the earlier rings yet and will wake anyway; nothing else can
happen, because this process keeps the read end open for the next child, so a dead reader
never makes the write fail or wait. No lock is ever waited for: ``close`` takes the only lock,
and a ring that finds it taken skips (the child polls on its own as well).

Rings are coalesced: at most one is written per ``RING_WINDOW`` (20 ms). A commit rung within
the window of the ring before it is owed a ring, which a thread of the doorbell writes once
the window has passed, so the child hears of every commit, at most a window late. A commit
every millisecond thus costs the writer one pipe write per window instead of twenty, and the
child wakes for a group of commits rather than for each.

One doorbell serves every incarnation of a child: each new process gets the same read end
and first drains what the previous one left unread.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Final

RING: Final = b"\x01"

RING_WINDOW: Final = 0.02
"""Seconds after a ring during which further rings are owed, and written once it ends."""


class Doorbell:
    """The collector's end of one child's wake-up pipe; pass ``receiver`` to the child.

    ``clock`` (seconds, monotonic) decides whether a ring falls within the ``window`` of the
    one before it; a ring owed is written by the doorbell's thread as soon as it does not.
    """

    def __init__(
        self, window: float = RING_WINDOW, clock: Callable[[], float] = time.monotonic
    ) -> None:
        receiver, sender = multiprocessing.Pipe(duplex=False)
        os.set_blocking(sender.fileno(), False)
        os.set_blocking(receiver.fileno(), False)  # so that a child drains without waiting
        self.receiver: Connection = receiver
        """The read end, handed to each child process (pickled by multiprocessing)."""
        self._sender: Connection | None = sender
        self._lock = threading.Lock()
        self._window = window
        self._clock = clock
        self._quiet_until = -math.inf
        self._owed = False
        self._owed_noted = threading.Event()
        self._closed = threading.Event()
        self._ringer: threading.Thread | None = None

    def ring(self, _last_seq: int = 0) -> None:
        """Wake the child, now or once the window ends; never blocks and never raises (fits
        ``add_commit_listener``)."""
        if self._clock() < self._quiet_until:
            self._owe()
            return
        if not self._lock.acquire(blocking=False):
            # Being closed, or an owed ring being written (perhaps before this commit).
            self._owe()
            return
        try:
            now = self._clock()
            if now < self._quiet_until:
                self._owe()  # the owed ring was written just now, perhaps before this commit
                return
            self._owed = False  # this ring wakes the child for every commit so far
            self._quiet_until = now + self._window
            self._write()
        finally:
            self._lock.release()

    def close(self) -> None:
        """Close both ends; later rings, owed ones included, do nothing."""
        self._closed.set()
        self._owed_noted.set()  # the ringer wakes and ends
        with self._lock:
            sender, self._sender = self._sender, None
        if sender is not None:
            sender.close()
            self.receiver.close()

    def _write(self) -> None:
        sender = self._sender
        if sender is not None:
            # Full pipe (BlockingIOError): the child has rings left to read, so it wakes.
            with contextlib.suppress(OSError):
                os.write(sender.fileno(), RING)

    def _owe(self) -> None:
        """Note a ring owed; the ringer writes it when the window has passed."""
        if self._owed or self._closed.is_set():
            return
        self._owed = True
        if self._ringer is None:
            self._ringer = threading.Thread(
                target=self._ring_owed, name="audience-doorbell", daemon=True
            )
            self._ringer.start()
        self._owed_noted.set()

    def _ring_owed(self) -> None:
        """The ringer's loop: a ring owed is written as soon as the window allows."""
        while not self._closed.is_set():
            self._owed_noted.wait()
            self._owed_noted.clear()
            while self._owed and not self._closed.is_set():
                delay = self._quiet_until - self._clock()
                if delay > 0:
                    self._closed.wait(delay)
                    continue
                with self._lock:
                    now = self._clock()
                    if self._owed and now >= self._quiet_until:
                        self._owed = False  # before the write: later commits are owed anew
                        self._quiet_until = now + self._window
                        self._write()


def drain(receiver: Connection) -> bool:
    """Read every pending ring without waiting (the child's side); ``True`` if there was one."""
    rung = False
    while True:
        try:
            chunk = os.read(receiver.fileno(), 65536)
        except BlockingIOError:
            return rung
        if not chunk:
            return rung  # every write end is closed: the collector is gone
        rung = True
