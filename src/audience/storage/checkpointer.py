"""WAL checkpoints off the commit path: a background thread copies the log into the database.

By default SQLite checkpoints inside whichever commit pushes the write-ahead log past
1,000 pages, so that one commit (and every request waiting on it) stalls while pages are
copied and synced. The writer turns that off and this thread runs passive checkpoints,
which never block the writer, every ``interval`` seconds.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

logger = logging.getLogger(__name__)

CHECKPOINT_INTERVAL = 1.0
"""Seconds between passive checkpoints."""


class Checkpointer:
    """Runs ``PRAGMA wal_checkpoint(PASSIVE)`` on its own connection until ``close``."""

    def __init__(
        self, connection: sqlite3.Connection, interval: float = CHECKPOINT_INTERVAL
    ) -> None:
        self._connection = connection
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="audience-sqlite-checkpointer", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.checkpoint()

    def checkpoint(self) -> None:
        """Copy what the log holds into the database without waiting for anyone."""
        try:
            self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            logger.exception("a WAL checkpoint failed; the next one will try again")

    def close(self) -> None:
        """Stop the thread, run a last checkpoint and close the connection."""
        self._stop.set()
        self._thread.join()
        self.checkpoint()
        self._connection.close()
