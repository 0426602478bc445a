"""The doorbell: how the collector tells a child process that new events were committed.

It is rung on the event store's only writer thread after every commit, so ringing must never
wait, whatever the child is doing: dead, stopped (SIGSTOP), busy, slow, or not started yet.
A doorbell is a pipe whose write end is non-blocking. A ring writes one byte: when the pipe
is full the child has not read the earlier rings yet and will wake anyway; nothing else can
happen, because this process keeps the read end open for the next child, so a dead reader
never makes the write fail or wait. No lock is ever waited for: ``close`` takes the only lock,
and a ring that finds it taken skips (the child polls on its own as well).

One doorbell serves every incarnation of a child: each new process gets the same read end
and first drains what the previous one left unread.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
from multiprocessing.connection import Connection
from typing import Final

RING: Final = b"\x01"


class Doorbell:
    """The collector's end of one child's wake-up pipe; pass ``receiver`` to the child."""

    def __init__(self) -> None:
        receiver, sender = multiprocessing.Pipe(duplex=False)
        os.set_blocking(sender.fileno(), False)
        os.set_blocking(receiver.fileno(), False)  # so that a child drains without waiting
        self.receiver: Connection = receiver
        """The read end, handed to each child process (pickled by multiprocessing)."""
        self._sender: Connection | None = sender
        self._lock = threading.Lock()

    def ring(self, _last_seq: int = 0) -> None:
        """Wake the child; never blocks and never raises (fits ``add_commit_listener``)."""
        if not self._lock.acquire(blocking=False):
            return  # being closed
        try:
            sender = self._sender
            if sender is not None:
                # Full pipe (BlockingIOError): the child has rings left to read, so it wakes.
                with contextlib.suppress(OSError):
                    os.write(sender.fileno(), RING)
        finally:
            self._lock.release()

    def close(self) -> None:
        """Close both ends; later rings do nothing."""
        with self._lock:
            sender, self._sender = self._sender, None
        if sender is not None:
            sender.close()
            self.receiver.close()


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
