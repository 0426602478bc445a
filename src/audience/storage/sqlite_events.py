"""The SQLite event store: WAL, one group-commit writer, pooled readers, sources with write keys.

WAL checkpoints run on a background thread (``Checkpointer``), never inside a commit.

It implements ``EventSink`` (the collector commits through it), ``EventFeed`` (resolution
and destinations read the log in order), ``EventQuery`` (the admin API) and
``SourceRegistry``. Several processes may open the same file: SQLite serialises writers,
and each process keeps one writer thread.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from audience.clock import Clock
from audience.errors import StorageError
from audience.storage.backups import StoreFile
from audience.storage.checkpointer import Checkpointer
from audience.storage.dialect import SQLITE
from audience.storage.event_store import SqlEventStore
from audience.storage.sqlite_migrations import migrate
from audience.storage.writer import GroupCommitWriter

SCRUB_ATTEMPTS = 100
"""How many times a deletion tries to empty the WAL while readers hold older snapshots."""

SCRUB_PAUSE_SECONDS = 0.05

BUSY_TIMEOUT_MS = 10_000
"""How long a connection waits for another process's write lock before failing."""

BACKUP_FILE = StoreFile("events", "events.sqlite3", "SELECT coalesce(max(seq), 0) FROM events")
"""The event store's file in a backup; its position is the last event's ``seq``."""

RECLAIM_SHARE: Final = 0.25
"""Free pages, as a share of the file, past which pruning gives the space back."""

RECLAIM_MIN_PAGES: Final = 2_048
"""Free pages below which the space is never worth giving back (8 MiB of 4 KiB pages)."""

RECLAIM_STEP: Final = 1_024
"""Pages one incremental vacuum frees (one short write transaction each)."""

logger = logging.getLogger(__name__)


class SqliteEventStore(SqlEventStore):
    """The default event store: one SQLite file in WAL mode.

    Open it with ``SqliteEventStore.open(path)`` and close it when done (it is also a
    context manager). The writer thread starts on the first ``append``.
    """

    _dialect = SQLITE

    def __init__(
        self, path: Path, *, synchronous: str = "full", clock: Clock | None = None
    ) -> None:
        super().__init__(clock=clock)
        self.path = path
        self._synchronous = "FULL" if synchronous.lower() == "full" else "NORMAL"
        self._checkpointer: Checkpointer | None = None

    @classmethod
    def open(
        cls, path: Path, *, synchronous: str = "full", clock: Clock | None = None
    ) -> SqliteEventStore:
        """Open (creating when needed) the store at ``path`` and apply its missing migrations."""
        store = cls(path, synchronous=synchronous, clock=clock)
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = store._connect()
        try:
            if not connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                # A new file frees the pages of pruned events a few at a time (reclaim_space).
                connection.execute("PRAGMA auto_vacuum=INCREMENTAL")
            connection.execute("PRAGMA journal_mode=WAL")
            migrate(connection, "events", path)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the event store {path}: {exc}") from exc
        finally:
            connection.close()
        return store

    def _connect(self) -> sqlite3.Connection:
        try:
            connection = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=0
            )
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the event store {self.path}: {exc}") from exc
        connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        connection.execute(f"PRAGMA synchronous={self._synchronous}")
        # Events are only ever appended or deleted: a deleted event's bytes are overwritten with
        # zeros at no cost to appends, so a deletion leaves nothing of it in the file.
        connection.execute("PRAGMA secure_delete=ON")
        return connection

    # -- what differs from the shared store ------------------------------------------------

    def _open_reader(self) -> sqlite3.Connection:
        return self._connect()

    def _new_writer(self) -> GroupCommitWriter:
        connection = self._connect()
        connection.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer does it
        writer = GroupCommitWriter(connection)
        self._checkpointer = Checkpointer(self._connect())
        return writer

    def _scrub(self) -> None:
        """Checkpoint the zeroed pages into the file and empty the WAL, which still held the
        deleted events' frames (retrying while readers keep an older snapshot)."""
        for _ in range(SCRUB_ATTEMPTS):
            with self._reader() as connection:
                busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy:
                return
            time.sleep(SCRUB_PAUSE_SECONDS)
        raise StorageError("the event store's WAL could not be emptied after a deletion")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._reader() as connection:
            try:
                connection.execute("BEGIN IMMEDIATE")
                yield connection
                connection.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StorageError(f"writing the event store failed: {exc}") from exc
            finally:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")

    def reclaim_space(self) -> str | None:
        """Give free pages back to the file system once they pass a quarter of the file.

        A file made by this release frees them by incremental vacuums, a few pages per short
        transaction. An older file (no incremental vacuum) is rewritten once by ``VACUUM``,
        which also turns incremental vacuum on; the writer waits for it (up to its busy
        timeout, after which a commit fails and its clients send again).
        """
        try:
            with self._reader() as connection:
                free = int(connection.execute("PRAGMA freelist_count").fetchone()[0])
                pages = int(connection.execute("PRAGMA page_count").fetchone()[0])
                if free < max(RECLAIM_MIN_PAGES, pages * RECLAIM_SHARE):
                    return None
                if int(connection.execute("PRAGMA auto_vacuum").fetchone()[0]) == 2:
                    while int(connection.execute("PRAGMA freelist_count").fetchone()[0]):
                        connection.execute(f"PRAGMA incremental_vacuum({RECLAIM_STEP})").fetchall()
                    return f"incremental vacuum freed {free} pages"
                logger.warning(
                    "rewriting %s with VACUUM to give back %d free pages (once: it then frees "
                    "them incrementally)",
                    self.path,
                    free,
                )
                connection.execute("PRAGMA auto_vacuum=INCREMENTAL")
                connection.execute("VACUUM")
                return f"VACUUM freed {free} pages"
        except sqlite3.Error as exc:
            raise StorageError(f"reclaiming the space of {self.path} failed: {exc}") from exc

    def _close_extras(self) -> None:
        with self._writer_lock:
            checkpointer, self._checkpointer = self._checkpointer, None
        if checkpointer is not None:
            checkpointer.close()
