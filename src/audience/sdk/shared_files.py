"""A file that several processes read and replace safely: an exclusive lock and a change counter.

Readers must see every write made by any process sharing the storage directory, yet reading the
file on every ``track()`` would cost more than the whole call may. So each shared file has a
companion ``<name>.lock`` of eight bytes, mapped into memory (shared between processes): writers
take the lock of ``<name>.writing`` (``audience.sdk.file_locks``, on every platform), replace the
file atomically and increment the counter; readers compare the mapped
counter (a memory read) with the one they last loaded and re-read the file only when it moved.
Edits made by other programs (a deleted file, a hand-edited jar) are noticed by a ``stat`` at most
every ``recheck_interval`` seconds.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from audience.clock import Clock
from audience.errors import StorageError
from audience.sdk.file_locks import locked

log = logging.getLogger(__name__)

T = TypeVar("T")

_COUNTER_BYTES = 8

_BINARY = getattr(os, "O_BINARY", 0)
"""Windows opens files as text unless told otherwise; elsewhere the flag does not exist."""


class SharedFile(Generic[T]):
    """One file's parsed content, cached and kept in step with writes from every process.

    ``load(path)`` parses the file (and must return an empty document when it is missing);
    ``dump(document, path)`` writes it. Both run with the file's lock held when writing.
    """

    def __init__(
        self,
        path: Path,
        *,
        load: Callable[[Path], T],
        dump: Callable[[T, Path], None],
        clock: Clock,
        recheck_interval: float = 1.0,
    ) -> None:
        self.path = path
        self._lock_path = path.with_name(path.name + ".lock")
        self._writing_path = path.with_name(path.name + ".writing")
        self._load = load
        self._dump = dump
        self._clock = clock
        self._monotonic = clock.monotonic
        self._recheck_interval = recheck_interval
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._counter = self._map_counter()
            self._count_view = memoryview(self._counter).cast("Q")
        except OSError as exc:
            raise StorageError(f"cannot use {path.parent}: {exc}") from exc
        self._seen = -1
        self._signature: tuple[int, int, int] | None = None
        self._next_recheck = 0.0
        self._generation = 0
        self._document: T = load(path)

    def _map_counter(self) -> mmap.mmap:
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | _BINARY, 0o600)
        try:
            if os.fstat(fd).st_size < _COUNTER_BYTES:
                with locked(self._writing_path):
                    if os.fstat(fd).st_size < _COUNTER_BYTES:
                        os.ftruncate(fd, _COUNTER_BYTES)
            return mmap.mmap(fd, _COUNTER_BYTES)
        finally:
            os.close(fd)

    def _count(self) -> int:
        return int(self._count_view[0])

    def _stat_signature(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def read(self) -> T:
        """The current document, re-read only when some process changed it."""
        count = self._count()
        now = self._clock.monotonic()
        if count != self._seen or now >= self._next_recheck:
            self._next_recheck = now + self._recheck_interval
            signature = self._stat_signature()
            if count != self._seen or signature != self._signature:
                self._document = self._load(self.path)
                self._seen = count
                self._signature = signature
                self._generation += 1
        return self._document

    def version(self, now: float | None = None) -> int:
        """A number that changes whenever the document read by this process changes.

        ``now`` is the clock's ``monotonic()`` when the caller already has it.
        """
        if now is None:
            now = self._monotonic()
        if self._count_view[0] != self._seen or now >= self._next_recheck:
            self.read()
        return self._generation

    def update(self, change: Callable[[T], T]) -> T:
        """Apply ``change`` to the freshest document under the lock and write it back atomically."""
        with locked(self._writing_path):
            document = change(self._load(self.path))
            self._dump(document, self.path)
            count = self._count() + 1
            self._count_view[0] = count
            self._document = document
            self._seen = count
            self._signature = self._stat_signature()
            self._generation += 1
            return document

    def close(self) -> None:
        """Release the mapped counter."""
        self._count_view.release()
        self._counter.close()


def replace_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old or the new file, never a torn one."""
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise StorageError(f"cannot write {path}: {exc}") from exc
