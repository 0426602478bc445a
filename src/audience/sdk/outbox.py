"""Accepted messages waiting for delivery: in memory, or durably in SQLite beside the local store.

The SQLite outbox survives a crash of the process and a long collector outage: a restarted
process finds the pending messages and sends them with their original ``messageId``. Several
processes may share one outbox (same ``storage_dir``): all of them append, and one at a time,
the holder of an ``flock`` on ``outbox.sqlite.sender``, sends. The lock dies with its process,
so after a crash another (or the restarted) process takes over at once.

Both outboxes are bounded: once ``limit`` messages wait, new ones are refused (the caller is
told how many were taken and reports the rest to ``on_error``); what is already waiting is kept.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import logging
import os
import sqlite3
import threading
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from audience.errors import StorageError

log = logging.getLogger(__name__)

_CHECKPOINT_COMMITS = 500
"""Commits after which a busy outbox checkpoints anyway, so its log cannot grow without end."""

_WAL_BYTES = 16 * 1024 * 1024
"""The size the write-ahead log is cut back to after a checkpoint."""

Pending = tuple[int, bytes]
"""A waiting message: its position in the outbox and its JSON bytes."""


class Outbox(Protocol):
    """Where accepted messages wait, oldest first."""

    def append(self, messages: Sequence[bytes], delivered: Sequence[int] = ()) -> tuple[int, int]:
        """Forget the ``delivered`` positions, then keep as many of ``messages`` as the limit
        allows, in one step; returns (how many were kept, the position of the last one).

        Positions of the kept messages are consecutive: ``last - kept + 1 .. last``.
        """
        ...

    def oldest(self, limit: int, before: int | None = None) -> list[Pending]:
        """Up to ``limit`` of the oldest waiting messages (only those before ``before``)."""
        ...

    def remove(self, positions: Sequence[int]) -> None:
        """Forget delivered (or permanently refused) messages."""
        ...

    def waiting_through(self, position: int) -> int:
        """How many messages at or before ``position`` still wait."""
        ...

    def newest(self) -> int:
        """The position of the newest waiting message, 0 when none waits."""
        ...

    def may_send(self) -> bool:
        """Whether this process is the one that sends from this outbox now."""
        ...

    def tidy(self) -> None:
        """Housekeeping for quiet moments (the worker calls it when it has nothing to send)."""
        ...

    def after_fork_in_child(self) -> None:
        """Drop what belongs to the parent process (connections, locks, copies of messages)."""
        ...

    def close(self) -> None:
        """Release files and connections."""
        ...


class MemoryOutbox:
    """Messages in a deque: lost with the process, used with ``storage="memory"``."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._items: deque[Pending] = deque()
        self._positions = itertools.count(1)
        self._last = 0
        self._lock = threading.Lock()

    def append(self, messages: Sequence[bytes], delivered: Sequence[int] = ()) -> tuple[int, int]:
        with self._lock:
            self._forget(delivered)
            room = max(0, self._limit - len(self._items))
            for body in messages[:room]:
                self._last = next(self._positions)
                self._items.append((self._last, body))
            return min(room, len(messages)), self._last

    def oldest(self, limit: int, before: int | None = None) -> list[Pending]:
        with self._lock:
            items = itertools.islice(self._items, limit)
            return [item for item in items if before is None or item[0] < before]

    def remove(self, positions: Sequence[int]) -> None:
        with self._lock:
            self._forget(positions)

    def _forget(self, positions: Sequence[int]) -> None:
        if not positions:
            return
        gone = set(positions)
        items = self._items
        while items and items[0][0] in gone:
            gone.discard(items.popleft()[0])
        if gone:
            self._items = deque(item for item in items if item[0] not in gone)

    def waiting_through(self, position: int) -> int:
        with self._lock:
            items = self._items
            if not items or items[0][0] > position:
                return 0
            if items[-1][0] <= position:
                return len(items)
            return sum(1 for item in items if item[0] <= position)

    def newest(self) -> int:
        with self._lock:
            return self._items[-1][0] if self._items else 0

    def may_send(self) -> bool:
        return True

    def tidy(self) -> None:
        """Nothing to tidy in memory."""

    def after_fork_in_child(self) -> None:
        self._items.clear()
        self._lock = threading.Lock()

    def close(self) -> None:
        self._items.clear()


class SqliteOutbox:
    """A durable outbox: one SQLite table in WAL mode, committed before messages count as kept.

    ``synchronous=NORMAL`` in WAL mode survives any crash of the process; only a power loss or
    an operating system crash can take back the last commits.
    """

    def __init__(self, path: Path | str, limit: int) -> None:
        self.path = Path(path)
        self._limit = limit
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = os.getpid()
        self._sender_fd: int | None = None
        self._count: int | None = None
        self._commits = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._lock:
                self._connect()
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(f"cannot open the outbox {self.path}: {exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        # Checkpoints (which fsync) run when the worker is idle, not in the middle of a burst.
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute(f"PRAGMA journal_size_limit={_WAL_BYTES}")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS outbox "
            "(id INTEGER PRIMARY KEY AUTOINCREMENT, body BLOB NOT NULL)"
        )
        self._conn = conn
        self._pid = os.getpid()
        return conn

    def _waiting(self, conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT COUNT(*) FROM outbox").fetchone()
        return int(row[0])

    def append(self, messages: Sequence[bytes], delivered: Sequence[int] = ()) -> tuple[int, int]:
        with self._lock:
            conn = self._connect()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    if delivered:
                        conn.executemany(
                            "DELETE FROM outbox WHERE id BETWEEN ? AND ?", _runs(delivered)
                        )
                        if self._count is not None:
                            self._count = max(0, self._count - len(delivered))
                    taken: Sequence[bytes] = ()
                    last = 0
                    if messages:
                        if self._count is None or self._count + len(messages) > self._limit:
                            self._count = self._waiting(conn)
                        taken = messages[: max(0, self._limit - self._count)]
                        _insert(conn, taken)
                        row = conn.execute(
                            "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'"
                        ).fetchone()
                        last = 0 if row is None else int(row[0])
                        self._count += len(taken)
                    conn.execute("COMMIT")
                    self._commits += 1
                except BaseException:
                    conn.execute("ROLLBACK")
                    self._count = None
                    raise
            except sqlite3.Error as exc:
                raise StorageError(f"cannot write the outbox {self.path}: {exc}") from exc
            if self._commits >= _CHECKPOINT_COMMITS:
                self._checkpoint(conn)
            return len(taken), last

    def oldest(self, limit: int, before: int | None = None) -> list[Pending]:
        query = "SELECT id, body FROM outbox WHERE id < ? ORDER BY id LIMIT ?"
        with self._lock:
            rows = self._connect().execute(query, (before or 2**62, limit)).fetchall()
        return [(int(row[0]), bytes(row[1])) for row in rows]

    def remove(self, positions: Sequence[int]) -> None:
        if not positions:
            return
        with self._lock:
            self._connect().executemany(
                "DELETE FROM outbox WHERE id BETWEEN ? AND ?", _runs(positions)
            )
            if self._count is not None:
                self._count = max(0, self._count - len(positions))

    def waiting_through(self, position: int) -> int:
        with self._lock:
            row = (
                self._connect()
                .execute("SELECT COUNT(*) FROM outbox WHERE id <= ?", (position,))
                .fetchone()
            )
        return int(row[0])

    def newest(self) -> int:
        with self._lock:
            row = self._connect().execute("SELECT MAX(id) FROM outbox").fetchone()
        return 0 if row[0] is None else int(row[0])

    def tidy(self) -> None:
        """Copy the write-ahead log into the database file if anything was committed."""
        with self._lock:
            if self._commits and self._conn is not None and self._pid == os.getpid():
                try:
                    self._checkpoint(self._conn)
                except sqlite3.Error as exc:
                    log.warning("cannot checkpoint the outbox %s: %s", self.path, exc)

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        self._commits = 0

    def may_send(self) -> bool:
        if self._sender_fd is not None:
            return True
        fd = os.open(self.path.with_name(self.path.name + ".sender"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._sender_fd = fd
        return True

    def after_fork_in_child(self) -> None:
        # The parent's connection and sender lock are the parent's: SQLite connections must not
        # cross a fork, and the inherited lock descriptor would let both processes send.
        self._lock = threading.Lock()
        self._conn = None
        self._count = None
        if self._sender_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._sender_fd)
            self._sender_fd = None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None
            if self._sender_fd is not None:
                os.close(self._sender_fd)
                self._sender_fd = None


def _runs(positions: Sequence[int]) -> list[tuple[int, int]]:
    """Positions as (first, last) runs of consecutive numbers: few statements for many rows."""
    runs: list[tuple[int, int]] = []
    for position in sorted(positions):
        if runs and position == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], position)
        else:
            runs.append((position, position))
    return runs


_ROWS_PER_INSERT = 250


def _insert(conn: sqlite3.Connection, bodies: Sequence[bytes]) -> None:
    """Insert in order, many rows per statement: one SQLite step per group instead of per row."""
    full = len(bodies) - len(bodies) % _ROWS_PER_INSERT
    if full:
        statement = "INSERT INTO outbox (body) VALUES " + ",".join(["(?)"] * _ROWS_PER_INSERT)
        conn.executemany(
            statement,
            [
                bodies[start : start + _ROWS_PER_INSERT]
                for start in range(0, full, _ROWS_PER_INSERT)
            ],
        )
    if full < len(bodies):
        rest = bodies[full:]
        conn.execute("INSERT INTO outbox (body) VALUES " + ",".join(["(?)"] * len(rest)), rest)
