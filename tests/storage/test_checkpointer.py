from __future__ import annotations

import sqlite3
from pathlib import Path

from audience.storage.checkpointer import Checkpointer


def rows_in_the_database_file(path: Path) -> int:
    """Rows visible in the main file alone, ignoring anything still only in the WAL."""
    with sqlite3.connect(f"file:{path}?immutable=1", uri=True) as reader:
        count: int = reader.execute("SELECT count(*) FROM t").fetchone()[0]
    reader.close()
    return count


def test_a_checkpoint_copies_committed_rows_from_the_log_into_the_database(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db.sqlite3"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("CREATE TABLE t (x)")
    writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    writer.executemany("INSERT INTO t VALUES (?)", [(n,) for n in range(100)])
    checkpointer = Checkpointer(sqlite3.connect(path, check_same_thread=False), interval=3600)
    try:
        assert rows_in_the_database_file(path) == 0
        checkpointer.checkpoint()
        assert rows_in_the_database_file(path) == 100
    finally:
        checkpointer.close()
        writer.close()
