"""Accepted messages waiting for delivery: in memory, or durably in SQLite beside the local store.

Messages are kept in *entries*: the messages one write brought, cut into groups that each fit
one batch (at most 100 messages, under 475 KB), stored one JSON message a line. Writing,
reading and forgetting then cost one row per batch instead of one per message.

The SQLite outbox survives a crash of the process and a long collector outage: a restarted
process finds the pending entries and sends them with their original ``messageId``. Several
processes may share one outbox (same ``storage_dir``): all of them append, and one at a time,
the holder of the lock on ``outbox.sqlite.sender`` (``audience.sdk.file_locks``), sends. The
lock dies with its process, so after a crash another (or the restarted) process takes over.

Both outboxes are bounded: once ``limit`` messages wait, new ones are refused (the caller is
told how many were taken and reports the rest to ``on_error``); what is already waiting is kept.

An entry whose batch failed carries a ``Trouble`` (``audience.sdk.isolation``): the sender keeps
such entries in memory and posts them itself, so ``oldest`` leaves them out; ``replace`` merges a
failed batch into one entry or splits one in halves, atomically.
"""

from __future__ import annotations

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
from audience.sdk.batching import BatchingPolicy, batch_size
from audience.sdk.file_locks import HeldLock
from audience.sdk.isolation import Trouble

log = logging.getLogger(__name__)

_CHECKPOINT_COMMITS = 500
"""Commits after which a busy outbox checkpoints anyway, so its log cannot grow without end."""

_WAL_BYTES = 16 * 1024 * 1024
"""The size the write-ahead log is cut back to after a checkpoint."""

Entry = tuple[int, list[bytes]]
"""Waiting messages written together: the entry's position in the outbox, and the messages."""


def group(messages: Sequence[bytes], policy: BatchingPolicy) -> list[list[bytes]]:
    """``messages`` in order, cut into groups that each fit one batch."""
    groups = []
    start = 0
    while start < len(messages):
        count = batch_size(messages[start : start + policy.max_messages], policy)
        groups.append(list(messages[start : start + count]))
        start += count
    return groups


class Outbox(Protocol):
    """Where accepted messages wait, oldest first, in entries."""

    def append(
        self, messages: Sequence[bytes], delivered: Sequence[int] = ()
    ) -> tuple[int, list[Entry]]:
        """Forget the ``delivered`` entries, then keep as many of ``messages`` as the limit
        allows, in one step; returns how many were kept and the entries that now hold them."""
        ...

    def oldest(self, limit: int, before: int | None = None) -> list[Entry]:
        """Up to ``limit`` of the oldest waiting entries without a ``Trouble`` (only those
        before ``before``)."""
        ...

    def remove(self, positions: Sequence[int]) -> None:
        """Forget delivered (or permanently refused) entries."""
        ...

    def troubled(self) -> list[tuple[Entry, Trouble]]:
        """Every waiting entry that carries a ``Trouble``, oldest first."""
        ...

    def mark(self, position: int, trouble: Trouble) -> None:
        """Keep ``trouble`` with the entry at ``position``."""
        ...

    def replace(
        self, positions: Sequence[int], pieces: Sequence[tuple[Sequence[bytes], Trouble]]
    ) -> list[int]:
        """In one step, forget the entries at ``positions`` and keep ``pieces`` instead, the
        first at ``positions[0]`` (its place in line), the others as new entries; returns the
        pieces' positions."""
        ...

    def waiting_through(self, position: int) -> int:
        """How many entries at or before ``position`` still wait."""
        ...

    def newest(self) -> int:
        """The position of the newest waiting entry, 0 when none waits."""
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
    """Entries in a deque: lost with the process, used with ``storage="memory"``."""

    def __init__(self, limit: int, policy: BatchingPolicy | None = None) -> None:
        self._limit = limit
        self._policy = policy or BatchingPolicy()
        self._entries: deque[Entry] = deque()
        self._troubles: dict[int, Trouble] = {}
        self._messages = 0
        self._positions = itertools.count(1)
        self._lock = threading.Lock()

    def append(
        self, messages: Sequence[bytes], delivered: Sequence[int] = ()
    ) -> tuple[int, list[Entry]]:
        with self._lock:
            self._forget(delivered)
            taken = messages[: max(0, self._limit - self._messages)]
            entries = [(next(self._positions), bodies) for bodies in group(taken, self._policy)]
            self._entries.extend(entries)
            self._messages += len(taken)
            return len(taken), entries

    def oldest(self, limit: int, before: int | None = None) -> list[Entry]:
        with self._lock:
            troubles = self._troubles
            entries = (entry for entry in self._entries if entry[0] not in troubles)
            return [
                entry
                for entry in itertools.islice(entries, limit)
                if before is None or entry[0] < before
            ]

    def remove(self, positions: Sequence[int]) -> None:
        with self._lock:
            self._forget(positions)

    def troubled(self) -> list[tuple[Entry, Trouble]]:
        with self._lock:
            troubles = self._troubles
            return [(entry, troubles[entry[0]]) for entry in self._entries if entry[0] in troubles]

    def mark(self, position: int, trouble: Trouble) -> None:
        with self._lock:
            self._troubles[position] = trouble

    def replace(
        self, positions: Sequence[int], pieces: Sequence[tuple[Sequence[bytes], Trouble]]
    ) -> list[int]:
        with self._lock:
            gone = set(positions)
            first = positions[0]
            kept: deque[Entry] = deque()
            for entry in self._entries:
                if entry[0] == first and pieces:
                    kept.append((first, list(pieces[0][0])))
                elif entry[0] not in gone:
                    kept.append(entry)
            placed = [first] if pieces else []
            for bodies, _ in pieces[1:]:
                position = next(self._positions)
                kept.append((position, list(bodies)))
                placed.append(position)
            for position in gone:
                self._troubles.pop(position, None)
            for position, (_, trouble) in zip(placed, pieces, strict=True):
                self._troubles[position] = trouble
            self._entries = kept
            self._messages = sum(len(bodies) for _, bodies in kept)
            return placed

    def _forget(self, positions: Sequence[int]) -> None:
        if not positions:
            return
        gone = set(positions)
        for position in gone:
            self._troubles.pop(position, None)
        entries = self._entries
        while entries and entries[0][0] in gone:
            position, bodies = entries.popleft()
            gone.discard(position)
            self._messages -= len(bodies)
        if gone:
            kept = deque(entry for entry in entries if entry[0] not in gone)
            self._messages = sum(len(bodies) for _, bodies in kept)
            self._entries = kept

    def waiting_through(self, position: int) -> int:
        with self._lock:
            entries = self._entries
            if not entries or entries[0][0] > position:
                return 0
            if entries[-1][0] <= position:
                return len(entries)
            return sum(1 for entry in entries if entry[0] <= position)

    def newest(self) -> int:
        with self._lock:
            return self._entries[-1][0] if self._entries else 0

    def may_send(self) -> bool:
        return True

    def tidy(self) -> None:
        """Nothing to tidy in memory."""

    def after_fork_in_child(self) -> None:
        self._entries.clear()
        self._troubles.clear()
        self._messages = 0
        self._lock = threading.Lock()

    def close(self) -> None:
        self._entries.clear()
        self._troubles.clear()


class SqliteOutbox:
    """A durable outbox: one SQLite table in WAL mode, committed before messages count as kept.

    ``synchronous=NORMAL`` in WAL mode survives any crash of the process; only a power loss or
    an operating system crash can take back the last commits.
    """

    def __init__(self, path: Path | str, limit: int, policy: BatchingPolicy | None = None) -> None:
        self.path = Path(path)
        self._limit = limit
        self._policy = policy or BatchingPolicy()
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = os.getpid()
        self._sender = HeldLock(self.path.with_name(self.path.name + ".sender"))
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
            "CREATE TABLE IF NOT EXISTS entries (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " messages INTEGER NOT NULL, body BLOB NOT NULL, trouble BLOB)"
        )
        _add_trouble_column(conn)
        self._conn = conn
        self._pid = os.getpid()
        return conn

    def _waiting(self, conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT COALESCE(SUM(messages), 0) FROM entries").fetchone()
        return int(row[0])

    def append(
        self, messages: Sequence[bytes], delivered: Sequence[int] = ()
    ) -> tuple[int, list[Entry]]:
        with self._lock:
            conn = self._connect()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    if delivered:
                        conn.executemany(
                            "DELETE FROM entries WHERE id BETWEEN ? AND ?", _runs(delivered)
                        )
                        self._count = None
                    taken: Sequence[bytes] = ()
                    entries: list[Entry] = []
                    if messages:
                        if self._count is None or self._count + len(messages) > self._limit:
                            self._count = self._waiting(conn)
                        taken = messages[: max(0, self._limit - self._count)]
                        for bodies in group(taken, self._policy):
                            cursor = conn.execute(
                                "INSERT INTO entries (messages, body) VALUES (?, ?)",
                                (len(bodies), b"\n".join(bodies)),
                            )
                            entries.append((int(cursor.lastrowid or 0), bodies))
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
            return len(taken), entries

    def oldest(self, limit: int, before: int | None = None) -> list[Entry]:
        query = "SELECT id, body FROM entries WHERE id < ? AND trouble IS NULL ORDER BY id LIMIT ?"
        with self._lock:
            rows = self._connect().execute(query, (before or 2**62, limit)).fetchall()
        return [(int(row[0]), bytes(row[1]).split(b"\n")) for row in rows]

    def remove(self, positions: Sequence[int]) -> None:
        if not positions:
            return
        with self._lock:
            self._connect().executemany(
                "DELETE FROM entries WHERE id BETWEEN ? AND ?", _runs(positions)
            )
            self._count = None

    def troubled(self) -> list[tuple[Entry, Trouble]]:
        query = "SELECT id, body, trouble FROM entries WHERE trouble IS NOT NULL ORDER BY id"
        with self._lock:
            rows = self._connect().execute(query).fetchall()
        return [
            ((int(row[0]), bytes(row[1]).split(b"\n")), Trouble.decode(bytes(row[2])))
            for row in rows
        ]

    def mark(self, position: int, trouble: Trouble) -> None:
        with self._lock:
            try:
                self._connect().execute(
                    "UPDATE entries SET trouble = ? WHERE id = ?", (trouble.encode(), position)
                )
            except sqlite3.Error as exc:
                raise StorageError(f"cannot write the outbox {self.path}: {exc}") from exc

    def replace(
        self, positions: Sequence[int], pieces: Sequence[tuple[Sequence[bytes], Trouble]]
    ) -> list[int]:
        with self._lock:
            conn = self._connect()
            placed: list[int] = []
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.executemany(
                        "DELETE FROM entries WHERE id = ?",
                        [(position,) for position in positions[1 if pieces else 0 :]],
                    )
                    for index, (bodies, trouble) in enumerate(pieces):
                        row = (len(bodies), b"\n".join(bodies), trouble.encode())
                        if index == 0:
                            conn.execute(
                                "UPDATE entries SET messages = ?, body = ?, trouble = ?"
                                " WHERE id = ?",
                                (*row, positions[0]),
                            )
                            placed.append(positions[0])
                        else:
                            cursor = conn.execute(
                                "INSERT INTO entries (messages, body, trouble) VALUES (?, ?, ?)",
                                row,
                            )
                            placed.append(int(cursor.lastrowid or 0))
                    conn.execute("COMMIT")
                    self._commits += 1
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                finally:
                    self._count = None
            except sqlite3.Error as exc:
                raise StorageError(f"cannot write the outbox {self.path}: {exc}") from exc
            return placed

    def waiting_through(self, position: int) -> int:
        with self._lock:
            row = (
                self._connect()
                .execute("SELECT COUNT(*) FROM entries WHERE id <= ?", (position,))
                .fetchone()
            )
        return int(row[0])

    def newest(self) -> int:
        with self._lock:
            row = self._connect().execute("SELECT MAX(id) FROM entries").fetchone()
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
        try:
            return self._sender.try_take()
        except OSError as exc:
            log.warning("cannot take the outbox's sender lock %s: %s", self.path, exc)
            return False

    def after_fork_in_child(self) -> None:
        # The parent's connection and sender lock are the parent's: SQLite connections must not
        # cross a fork, and the inherited sender lock would let both processes send.
        self._lock = threading.Lock()
        self._conn = None
        self._count = None
        self._sender = HeldLock(self.path.with_name(self.path.name + ".sender"))

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None
            self._sender.release()


def _add_trouble_column(conn: sqlite3.Connection) -> None:
    """Give an outbox written by an earlier version the ``trouble`` column (NULL: no trouble)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(entries)")}
    if "trouble" in columns:
        return
    try:
        conn.execute("ALTER TABLE entries ADD COLUMN trouble BLOB")
    except sqlite3.OperationalError as exc:
        if "duplicate column" not in str(exc):  # another process added it first
            raise


def _runs(positions: Sequence[int]) -> list[tuple[int, int]]:
    """Positions as (first, last) runs of consecutive numbers: few statements for many rows."""
    runs: list[tuple[int, int]] = []
    for position in sorted(positions):
        if runs and position == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], position)
        else:
            runs.append((position, position))
    return runs
