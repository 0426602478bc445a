"""The profile store in a SQLite file of the data folder, ``profiles.sqlite3``.

One writer connection applies batches (SQLite's write lock lets one process at a time); readers
use connections of their own, which WAL lets read while the writer writes.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from audience.errors import StorageError
from audience.eventlog import StoredEvent
from audience.identity.graph import Limits
from audience.identity.identifiers import Identifier
from audience.resolution import deletion, queries
from audience.resolution.deletion import PersonDeletion
from audience.resolution.profile_store import SqlProfileStore
from audience.resolution.schema import REBUILDING_MIGRATIONS, TABLES
from audience.storage.backups import StoreFile
from audience.storage.dialect import SQLITE, SqlSession
from audience.storage.sqlite_migrations import migrate

logger = logging.getLogger(__name__)

FILENAME: Final = "profiles.sqlite3"
"""The file name of the profile database inside the data directory."""

BACKUP_FILE = StoreFile(
    "profiles", FILENAME, "SELECT coalesce(max(value), 0) FROM state WHERE name = 'cursor'"
)
"""The profile store's file in a backup; its position is the resolver's cursor."""

SCRUB_ATTEMPTS: Final = 100
"""How many times a deletion tries to empty the WAL while readers hold older snapshots."""

SCRUB_PAUSE_SECONDS: Final = 0.05

WRITER_CACHE_KIB: Final = 128 * 1024
"""Page cache of the writer connection (SQLite's default is 2 MiB)."""

WRITER_CHECKPOINT_PAGES: Final = 10_000
"""WAL pages (4 KiB each) after which the writer's commit copies them into the database file.

SQLite's default, 1,000, checkpoints after nearly every batch: a page a batch rewrites (an index
page of identifiers or profiles) is copied, and synced, once per batch instead of once per
checkpoint. The WAL stays around 40 MiB."""

TRIGRAM_SQLITE: Final = (3, 34, 0)
"""The first SQLite whose FTS5 has the trigram tokenizer the search index is built with."""

TRIGRAM: Final = 3
"""Queries this long or longer are answered by the trigram index; shorter ones scan it."""

DOCUMENTS: Final = (
    "SELECT i.id, i.value || coalesce(char(31) || ("
    " SELECT group_concat(CASE WHEN substr(t.value, 1, 1) = '\"' "
    "THEN json_extract(t.value, '$') ELSE t.value END, char(31))"
    " FROM identifier_traits t WHERE t.identifier = i.id), '') FROM identifiers i "
    "WHERE i.id IN ({marks})"
)
"""Identifiers' search documents: each its value, then its trait values (a string by its text),
each after a unit separator (``profiles/sqlite/0004_search_index.sql`` writes them alike)."""

DOCUMENTS_CHUNK: Final = 500
"""Identifiers whose search documents are read per query."""

SHORT_WALK: Final = 10_000
"""Newest profiles a short query looks through first: a common piece of two characters is found
among them without reading every identifier (a rare one reads them all after)."""

_NEWEST_MATCHING: Final = (
    "SELECT p.id FROM (SELECT id, last_seen FROM profiles ORDER BY last_seen DESC, id DESC "
    "LIMIT ?) p WHERE EXISTS (SELECT 1 FROM identifiers i JOIN profile_search s "
    "ON s.rowid = i.id WHERE i.profile = p.id AND s.body LIKE ? ESCAPE '\\') "
    "ORDER BY p.last_seen DESC, p.id DESC LIMIT ?"
)

_MATCHING: Final = (
    "SELECT p.id FROM profiles p WHERE p.id IN ("
    " SELECT i.profile FROM profile_search s JOIN identifiers i ON i.id = s.rowid WHERE {where}) "
    "ORDER BY p.last_seen DESC, p.id DESC LIMIT ?"
)


class SqliteProfileStore(SqlProfileStore):
    """:class:`~audience.resolution.profile_store.ProfileStore` on one SQLite file.

    ``link_email`` and ``limits``: see :class:`~audience.resolution.profile_store.SqlProfileStore`.
    """

    def __init__(
        self, path: Path | str, *, link_email: bool | None = None, limits: Limits | None = None
    ) -> None:
        super().__init__(SQLITE, link_email=link_email, limits=limits)
        self.path = Path(path)
        self._connections_lock = threading.Lock()
        self._readers: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._all: list[sqlite3.Connection] = []
        self._closed = False
        if sqlite3.sqlite_version_info < TRIGRAM_SQLITE:
            raise StorageError(
                f"the profile store needs SQLite 3.34 or newer (FTS5 with its trigram tokenizer) "
                f"for profile search; this Python has SQLite {sqlite3.sqlite_version}"
            )
        try:
            self._writer = self._connect()
            # The writer walks the identifier indexes for every event: keep them in memory.
            self._writer.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
            self._writer.execute(f"PRAGMA wal_autocheckpoint={WRITER_CHECKPOINT_PAGES}")
            self._prepare(self._writer)
            self._check_generation(self._writer)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the profile store {self.path}: {exc}") from exc

    @classmethod
    def in_directory(
        cls, data_dir: Path | str, *, link_email: bool | None = None, limits: Limits | None = None
    ) -> SqliteProfileStore:
        """The store in its own file inside the data directory."""
        directory = Path(data_dir)
        directory.mkdir(parents=True, exist_ok=True)
        return cls(directory / FILENAME, link_email=link_email, limits=limits)

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA busy_timeout=10000")
        self._all.append(connection)
        return connection

    def _prepare(self, db: sqlite3.Connection) -> None:
        """Create the tables, or bring a file of an older layout to this one.

        Profiles are derived from the event log: an older file keeps its recorded choices and
        forgets its profiles (migrations ``profiles/0002`` and ``0003``), so the resolver
        rebuilds them from the first event.
        """
        existing = db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'")
        had_tables = bool(existing.fetchone()[0])
        applied = migrate(db, "profiles", self.path)
        if had_tables and REBUILDING_MIGRATIONS.intersection(applied):
            logger.warning(
                "the profile store %s had an older layout: its profiles are rebuilt from the "
                "event log",
                self.path,
            )

    @contextmanager
    def _reader(self) -> Iterator[SqlSession]:
        try:
            connection = self._readers.get_nowait()
        except queue.Empty:
            with self._connections_lock:
                connection = self._connect()
        try:
            yield connection
        finally:
            self._readers.put(connection)

    def close(self) -> None:
        """Close every connection this store opened."""
        if self._closed:
            return
        self._closed = True
        with self._write_lock, self._connections_lock:
            for connection in self._all:
                connection.close()
            self._all.clear()

    def apply(self, events: Sequence[StoredEvent]) -> None:
        if events:
            self._write(lambda db: self._apply_batch(db, events))

    def _write(self, work: Callable[[SqlSession], None]) -> None:
        with self._write_lock:
            db = self._writer
            try:
                db.execute("BEGIN IMMEDIATE")
                work(db)
                db.execute("COMMIT")
            except BaseException as exc:
                self._node_ids.clear()
                if db.in_transaction:
                    db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StorageError(f"cannot write to the profile store: {exc}") from exc
                raise

    def clear(self, *, link_email: bool | None = None) -> None:
        """Forget every profile; ``link_email`` also records whether emails link from now on.

        The limits given to this store are recorded too (the recorded ones when none were).
        """
        with self._write_lock:
            db = self._writer
            db.execute("BEGIN IMMEDIATE")
            self._clear_tables(db, link_email)
            db.execute("COMMIT")
            self._node_ids.clear()
            self._check_generation(db)

    def delete_identifiers(self, identifiers: Sequence[Identifier]) -> PersonDeletion:
        """Delete under the write lock with ``secure_delete`` on, then empty the WAL: the deleted
        values are overwritten in the file and leave the log."""
        with self._write_lock:
            db = self._writer
            try:
                db.execute("PRAGMA secure_delete=ON")
                db.execute("BEGIN IMMEDIATE")
                deleted = deletion.delete_identifiers(db, self._dialect, identifiers)
                db.execute("COMMIT")
                self._empty_wal(db)
            except sqlite3.Error as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise StorageError(f"cannot delete from the profile store: {exc}") from exc
            finally:
                db.execute("PRAGMA secure_delete=OFF")
                self._node_ids.clear()
            self._check_generation(db)
        return deleted

    @staticmethod
    def _empty_wal(db: sqlite3.Connection) -> None:
        """Checkpoint the zeroed pages and empty the WAL, which still held the deleted rows'
        frames (retrying while a reader keeps an older snapshot)."""
        for _ in range(SCRUB_ATTEMPTS):
            busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy:
                return
            time.sleep(SCRUB_PAUSE_SECONDS)
        raise StorageError("the profile store's WAL could not be emptied after a deletion")

    def _empty_tables(self, db: SqlSession) -> None:
        db.execute("DELETE FROM profile_search")
        for table in TABLES:
            db.execute(f"DELETE FROM {table}")

    def _index(self, db: SqlSession, nodes: set[int]) -> None:
        # The documents are read first and written as values: FTS5 takes rows from an
        # ``INSERT ... SELECT`` several times slower than the same rows given as values.
        ordered = sorted(nodes)
        documents: list[tuple[int, str]] = []
        for start in range(0, len(ordered), DOCUMENTS_CHUNK):
            chunk = ordered[start : start + DOCUMENTS_CHUNK]
            statement = DOCUMENTS.format(marks=self._dialect.marks(len(chunk)))
            documents.extend(db.execute(statement, chunk).fetchall())
        db.executemany(
            "INSERT OR REPLACE INTO profile_search (rowid, body) VALUES (?, ?)", documents
        )

    def _matching(self, db: SqlSession, text: str, limit: int) -> list[int]:
        if len(text) >= TRIGRAM:
            # A phrase of the trigram tokenizer: the text's trigrams, one after the other.
            where, argument = "s.profile_search MATCH ?", '"' + text.replace('"', '""') + '"'
        else:
            where, argument = "s.body LIKE ? ESCAPE '\\'", queries.contains(text)
            newest = db.execute(_NEWEST_MATCHING, (SHORT_WALK, argument, limit)).fetchall()
            if len(newest) >= limit:  # the newest matches: no older profile comes before them
                return [int(row[0]) for row in newest]
        rows = db.execute(_MATCHING.format(where=where), (argument, limit)).fetchall()
        return [int(row[0]) for row in rows]
