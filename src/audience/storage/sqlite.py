"""The SQLite event store: WAL, one group-commit writer, pooled readers, sources with write keys.

WAL checkpoints run on a background thread (``Checkpointer``), never inside a commit.

It implements ``EventSink`` (the collector commits through it), ``EventFeed`` (resolution
and destinations read the log in order), ``EventQuery`` (the admin API) and
``SourceRegistry``. Several processes may open the same file: SQLite serialises writers,
and each process keeps one writer thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson

from audience.clock import Clock, SystemClock
from audience.errors import StorageError
from audience.eventlog import StoredEvent
from audience.storage.base import AppendResult, EventFilter, EventRecord
from audience.storage.checkpointer import Checkpointer
from audience.storage.schema import SCHEMA, SCHEMA_VERSION
from audience.storage.sources import RegistryDialect, SqlSourceRegistry
from audience.storage.writer import CommitListener, GroupCommitWriter

BUSY_TIMEOUT_MS = 10_000
"""How long a connection waits for another process's write lock before failing."""

_FILTER_COLUMNS = (
    ("source", "source"),
    ("type", "type"),
    ("user_id", "user_id"),
    ("anonymous_id", "anonymous_id"),
    ("event", "event"),
)


class SqliteEventStore(SqlSourceRegistry):
    """The default event store: one SQLite file in WAL mode.

    Open it with ``SqliteEventStore.open(path)`` and close it when done (it is also a
    context manager). The writer thread starts on the first ``append``.
    """

    _dialect = RegistryDialect(
        mark="?",
        insertion_order="rowid",
        duplicate=sqlite3.IntegrityError,
        failure=sqlite3.Error,
    )

    def __init__(
        self, path: Path, *, synchronous: str = "full", clock: Clock | None = None
    ) -> None:
        self.path = path
        self._synchronous = "FULL" if synchronous.lower() == "full" else "NORMAL"
        self._clock = clock or SystemClock()
        self._readers: list[sqlite3.Connection] = []
        self._all_readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._writer: GroupCommitWriter | None = None
        self._checkpointer: Checkpointer | None = None
        self._writer_lock = threading.Lock()
        self._listeners: list[CommitListener] = []
        self._closed = False

    @classmethod
    def open(
        cls, path: Path, *, synchronous: str = "full", clock: Clock | None = None
    ) -> SqliteEventStore:
        """Open (creating when needed) the store at ``path`` and apply the schema."""
        store = cls(path, synchronous=synchronous, clock=clock)
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = store._connect()
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(f"BEGIN IMMEDIATE;{SCHEMA}COMMIT;")
            connection.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
        except sqlite3.Error as exc:
            connection.close()
            raise StorageError(f"cannot open the event store {path}: {exc}") from exc
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
        return connection

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Commit what is queued, stop the writer and close every connection."""
        with self._writer_lock:
            self._closed = True
            writer, self._writer = self._writer, None
            checkpointer, self._checkpointer = self._checkpointer, None
        if writer is not None:
            writer.close()
        if checkpointer is not None:
            checkpointer.close()
        with self._readers_lock:
            for connection in self._all_readers:
                connection.close()
            self._all_readers.clear()
            self._readers.clear()

    def __enter__(self) -> SqliteEventStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- EventSink -------------------------------------------------------------------------

    def append(self, records: Sequence[EventRecord]) -> Future[AppendResult]:
        """Commit ``records`` with the next group; see ``EventSink.append``."""
        return self._started_writer().submit(records)

    def append_async(self, records: Sequence[EventRecord]) -> asyncio.Future[AppendResult]:
        """``append`` for the running event loop: await it; see ``EventSink.append_async``."""
        return self._started_writer().submit_async(records)

    def add_commit_listener(self, listener: CommitListener) -> None:
        """Call ``listener(last_seq)`` on the writer thread after each commit that stored events.

        Listeners wake readers (``asyncio.Event`` via ``call_soon_threadsafe``); they must
        not block.
        """
        with self._writer_lock:
            self._listeners.append(listener)
            if self._writer is not None:
                self._writer.add_listener(listener)

    def _started_writer(self) -> GroupCommitWriter:
        writer = self._writer
        if writer is not None:
            return writer
        with self._writer_lock:
            if self._closed:
                raise StorageError("the event store is closed")
            if self._writer is None:
                connection = self._connect()
                connection.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer does it
                self._writer = GroupCommitWriter(connection)
                self._checkpointer = Checkpointer(self._connect())
                for listener in self._listeners:
                    self._writer.add_listener(listener)
            return self._writer

    # -- reading ---------------------------------------------------------------------------

    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        with self._readers_lock:
            if self._closed:
                raise StorageError("the event store is closed")
            connection = self._readers.pop() if self._readers else None
        if connection is None:
            connection = self._connect()
            with self._readers_lock:
                self._all_readers.append(connection)
        try:
            yield connection
        finally:
            with self._readers_lock:
                if self._closed:
                    connection.close()
                else:
                    self._readers.append(connection)

    def _query(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        try:
            with self._reader() as connection:
                return connection.execute(sql, parameters).fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"reading the event store failed: {exc}") from exc

    # -- EventFeed -------------------------------------------------------------------------

    def read_after(self, seq: int, limit: int) -> list[StoredEvent]:
        """Up to ``limit`` events with a ``seq`` greater than ``seq``, oldest first."""
        rows = self._query(
            "SELECT seq, source, message FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
            (seq, limit),
        )
        return [_stored(row) for row in rows]

    def get_many(self, seqs: Sequence[int]) -> list[StoredEvent]:
        """The events at these positions, in ``seq`` order; unknown ones are left out."""
        wanted = sorted(set(seqs))
        found: list[StoredEvent] = []
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._query(
                f"SELECT seq, source, message FROM events WHERE seq IN ({marks}) ORDER BY seq",
                chunk,
            )
            found.extend(_stored(row) for row in rows)
        return found

    def last_seq(self) -> int:
        """The position of the newest committed event, 0 when the log is empty."""
        return int(self._query("SELECT coalesce(max(seq), 0) FROM events")[0][0])

    # -- EventQuery ------------------------------------------------------------------------

    def recent(self, event_filter: EventFilter, limit: int) -> list[StoredEvent]:
        """Up to ``limit`` matching events, newest first."""
        clauses: list[str] = []
        parameters: list[Any] = []
        for attribute, column in _FILTER_COLUMNS:
            value = getattr(event_filter, attribute)
            if value is not None:
                clauses.append(f"{column} = ?")
                parameters.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._query(
            f"SELECT seq, source, message FROM events {where} ORDER BY seq DESC LIMIT ?",
            [*parameters, limit],
        )
        return [_stored(row) for row in rows]

    def count(self, source: str | None = None) -> int:
        """How many events are stored, for one source or all."""
        if source is None:
            return int(self._query("SELECT count(*) FROM events")[0][0])
        return int(self._query("SELECT count(*) FROM events WHERE source = ?", (source,))[0][0])


def _stored(row: tuple[int, str, bytes]) -> StoredEvent:
    seq, source, message = row
    return StoredEvent(seq=seq, source=source, message=orjson.loads(message))
