"""Locks on files that every process sharing a storage directory respects, on every platform.

``filelock`` takes the operating system's lock where there is one (``flock`` on Linux, macOS
and the BSDs, ``LockFileEx`` on Windows): the lock dies with its process, so a crash never leaves
it held. Where neither exists it falls back to a lock file that records its holder, and a process
that finds the holder gone takes the lock over.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import filelock

from audience.errors import StorageError

_POLL = 0.002
"""Seconds between tries while another process holds the lock (writes hold it for milliseconds)."""


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the exclusive lock on ``path`` (created if missing), waiting as long as it takes."""
    lock = filelock.FileLock(path, poll_interval=_POLL)
    try:
        lock.acquire()
    except OSError as exc:
        raise StorageError(f"cannot lock {path}: {exc}") from exc
    try:
        yield
    finally:
        lock.release()


class HeldLock:
    """A lock on ``path`` that this process takes once, without waiting, and keeps until closed."""

    def __init__(self, path: Path) -> None:
        self._lock = filelock.FileLock(path, thread_local=False)

    def try_take(self) -> bool:
        """Take the lock if no other process holds it; True when this process holds it now."""
        if self._lock.is_locked:
            return True
        try:
            self._lock.acquire(blocking=False)
        except filelock.Timeout:
            return False
        return True

    def release(self) -> None:
        """Let another process take the lock."""
        if self._lock.is_locked:
            self._lock.release(force=True)
