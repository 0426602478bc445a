"""The delivery store in a SQLite file of the data folder, ``destinations.sqlite3``.

WAL; configuration changes are synced (full), a batch's progress is not (normal): it survives a
crash of the process, and power loss can only take back the last batches' progress, so they are
sent again. Other processes may open the same file; the one
dispatcher among them holds an advisory lock on a file beside it.
"""

from __future__ import annotations

import fcntl
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Final

from audience.destinations.delivery_store import SqlDeliveryStore
from audience.errors import StorageError
from audience.storage.backups import StoreFile
from audience.storage.dialect import SQLITE
from audience.storage.sqlite_migrations import migrate

FILE_NAME: Final = "destinations.sqlite3"
"""The state database's file name inside the data folder."""

BACKUP_FILE = StoreFile("deliveries", FILE_NAME, "SELECT coalesce(max(seq), 0) FROM cursors")
"""The delivery state's file in a backup; its position is the furthest destination's cursor."""


class SqliteDeliveryStore(SqlDeliveryStore):
    """``DeliveryStore`` in a SQLite file; open it with ``open`` or ``in_data_dir``."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        super().__init__(connection, SQLITE)
        self._connection = connection
        self._worker_file: IO[bytes] | None = None
        self.path = path

    @classmethod
    def open(cls, path: Path) -> SqliteDeliveryStore:
        """Open (creating when needed) the state database at ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            connection = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=10
            )
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the destinations state {path}: {exc}") from exc
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute("PRAGMA busy_timeout=10000")
            migrate(connection, "deliveries", path)
        except BaseException as exc:
            connection.close()
            if isinstance(exc, sqlite3.Error):
                raise StorageError(f"cannot open the destinations state {path}: {exc}") from exc
            raise
        return cls(connection, path)

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> SqliteDeliveryStore:
        """The state database of the data folder ``data_dir``."""
        return cls.open(data_dir / FILE_NAME)

    @contextmanager
    def _in_transaction(self, durable: bool) -> Iterator[None]:
        # WAL: a NORMAL commit skips the fsync; the next FULL one syncs everything before it.
        self._connection.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        self._connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._connection.execute("ROLLBACK")
            raise
        self._connection.execute("COMMIT")

    def acquire_worker(self) -> bool:
        # An advisory file lock: the kernel drops it when the process dies, even by SIGKILL.
        with self._lock:
            if self._worker_file is not None:
                return True
            handle = self.path.with_name(self.path.name + ".worker").open("ab")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                return False
            self._worker_file = handle
            return True

    def release_worker(self) -> None:
        with self._lock:
            handle, self._worker_file = self._worker_file, None
        if handle is not None:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()
