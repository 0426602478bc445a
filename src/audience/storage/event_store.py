"""The SQL event store: the pooled readers, group-commit writer and queries both backends share.

:class:`SqlEventStore` holds the lifecycle, the ``EventSink`` hand-off to a
:class:`~audience.storage.writer.GroupCommitQueue` and the ``EventFeed``/``EventQuery``
statements once, written with the store's :class:`~audience.storage.dialect.SqlDialect`
placeholder. Each backend supplies only what differs: how a reader connection opens, how its
writer is built, and its own extras.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Self

import orjson

from audience.clock import Clock, SystemClock
from audience.errors import StorageError
from audience.eventlog import StoredEvent
from audience.storage.admin_sessions import SqlAdminSessions
from audience.storage.base import AppendResult, EventFilter, EventRange, EventRecord
from audience.storage.pruning import SqlEventPruning
from audience.storage.regulations import SqlRegulations
from audience.storage.sources import SqlSourceRegistry
from audience.storage.writer import CommitListener, CommitTimer, GroupCommitQueue, WriterHealth

GET_MANY_CHUNK = 500
"""How many positions one ``get_many`` statement asks for at most."""

_FILTER_COLUMNS = ("source", "type", "user_id", "anonymous_id", "event")


class SqlEventStore(SqlSourceRegistry, SqlAdminSessions, SqlRegulations, SqlEventPruning):
    """``EventSink``, ``EventFeed``, ``EventQuery``, ``SourceRegistry``,
    ``AdminSessionStore``, ``RegulationStore`` and retention (:mod:`audience.storage.pruning`)
    on a SQL database.

    A backend supplies ``_dialect``, ``_open_reader`` (a new connection for the pool) and
    ``_new_writer`` (called once, under the writer lock, on the first ``append``); it may
    override ``_reusable`` and ``_close_extras``.
    """

    def __init__(self, *, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._readers: list[Any] = []
        self._all_readers: list[Any] = []
        self._readers_lock = threading.Lock()
        self._writer: GroupCommitQueue | None = None
        self._writer_lock = threading.Lock()
        self._listeners: list[CommitListener] = []
        self._timers: list[CommitTimer] = []
        self._closed = False

    # -- what a backend supplies -----------------------------------------------------------

    def _open_reader(self) -> Any:
        """A new connection for the reader pool."""
        raise NotImplementedError

    def _new_writer(self) -> GroupCommitQueue:
        """This store's writer, with any extras it needs alongside."""
        raise NotImplementedError

    def _reusable(self, connection: Any) -> bool:
        """Whether a reader connection may go back to the pool."""
        return True

    def _close_extras(self) -> None:
        """Stop whatever the backend started beside its writer."""

    def _horizon(self) -> int | None:
        """The smallest ``seq`` that may still be committed, when appends can commit out of
        ``seq`` order (``None`` when they cannot): readers of the log stay below it."""
        return None

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Commit what is queued, stop the writer and close every connection."""
        with self._writer_lock:
            self._closed = True
            writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
        self._close_extras()
        with self._readers_lock:
            for connection in self._all_readers:
                connection.close()
            self._all_readers.clear()
            self._readers.clear()

    def __enter__(self) -> Self:
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
        """Call ``listener(last_seq)`` on the writer thread after each of this process's commits
        that stored events.

        Listeners wake readers (``asyncio.Event`` via ``call_soon_threadsafe``); they must
        not block. Readers in other processes poll.
        """
        with self._writer_lock:
            self._listeners.append(listener)
            if self._writer is not None:
                self._writer.add_listener(listener)

    def add_commit_timer(self, timer: CommitTimer) -> None:
        """Call ``timer(seconds)`` on the writer thread after each of this process's commits
        with the time it took; it must not block either."""
        with self._writer_lock:
            self._timers.append(timer)
            if self._writer is not None:
                self._writer.add_timer(timer)

    def writer_health(self) -> WriterHealth:
        """How this process's writer is doing (see ``WriterHealth``); never waits."""
        writer = self._writer
        return WriterHealth.idle() if writer is None else writer.health()

    def _started_writer(self) -> GroupCommitQueue:
        writer = self._writer
        if writer is not None:
            return writer
        with self._writer_lock:
            if self._closed:
                raise StorageError("the event store is closed")
            if self._writer is None:
                self._writer = self._new_writer()
                for listener in self._listeners:
                    self._writer.add_listener(listener)
                for timer in self._timers:
                    self._writer.add_timer(timer)
            return self._writer

    # -- reading ---------------------------------------------------------------------------

    @contextmanager
    def _reader(self) -> Iterator[Any]:
        with self._readers_lock:
            if self._closed:
                raise StorageError("the event store is closed")
            connection = self._readers.pop() if self._readers else None
        if connection is None:
            connection = self._open_reader()
            with self._readers_lock:
                self._all_readers.append(connection)
        try:
            yield connection
        finally:
            with self._readers_lock:
                if self._closed or not self._reusable(connection):
                    connection.close()
                    if connection in self._all_readers:
                        self._all_readers.remove(connection)
                else:
                    self._readers.append(connection)

    def _query(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        try:
            with self._reader() as connection:
                rows: list[Any] = connection.execute(sql, parameters).fetchall()
                return rows
        except self._dialect.failure as exc:
            raise StorageError(f"reading the event store failed: {exc}") from exc

    # -- EventFeed -------------------------------------------------------------------------

    def read_after(self, seq: int, limit: int) -> list[StoredEvent]:
        """Up to ``limit`` events with a ``seq`` greater than ``seq``, oldest first.

        Only events below the horizon (``_horizon``) are read, so a later call never finds an
        event at a position below one already returned.
        """
        mark = self._dialect.mark
        horizon = self._horizon()
        if horizon is None:
            rows = self._query(
                f"SELECT seq, source, message FROM events WHERE seq > {mark} "
                f"ORDER BY seq LIMIT {mark}",
                (seq, limit),
            )
        elif horizon <= seq + 1:
            return []
        else:
            rows = self._query(
                f"SELECT seq, source, message FROM events WHERE seq > {mark} AND seq < {mark} "
                f"ORDER BY seq LIMIT {mark}",
                (seq, horizon, limit),
            )
        return [stored_event(row) for row in rows]

    def get_many(self, seqs: Sequence[int]) -> list[StoredEvent]:
        """The events at these positions, in ``seq`` order; unknown ones are left out."""
        wanted = sorted(set(seqs))
        found: list[StoredEvent] = []
        for start in range(0, len(wanted), GET_MANY_CHUNK):
            chunk = wanted[start : start + GET_MANY_CHUNK]
            marks = ",".join([self._dialect.mark] * len(chunk))
            rows = self._query(
                f"SELECT seq, source, message FROM events WHERE seq IN ({marks}) ORDER BY seq",
                chunk,
            )
            found.extend(stored_event(row) for row in rows)
        return found

    def last_seq(self) -> int:
        """The position of the newest committed event, 0 when the log is empty.

        Every event at a smaller position is committed too (it is below the horizon).
        """
        horizon = self._horizon()
        if horizon is None:
            return int(self._query("SELECT coalesce(max(seq), 0) FROM events")[0][0])
        rows = self._query(
            f"SELECT coalesce(max(seq), 0) FROM events WHERE seq < {self._dialect.mark}",
            (horizon,),
        )
        return int(rows[0][0])

    # -- EventQuery ------------------------------------------------------------------------

    def recent(
        self, event_filter: EventFilter, limit: int, before: int | None = None
    ) -> list[StoredEvent]:
        """Up to ``limit`` matching events newest first, all older than ``before`` when given.

        A walk down the ``seq`` index from ``before``: no offset, so a page costs the same
        however deep it is.
        """
        clauses, parameters = self._filter(event_filter)
        if before is not None:
            clauses.append(f"seq < {self._dialect.mark}")
            parameters.append(before)
        return self._listing(self._below_horizon(clauses, parameters), parameters, "DESC", limit)

    def newer(self, event_filter: EventFilter, after: int, limit: int) -> list[StoredEvent]:
        """Up to ``limit`` matching events newer than ``after``, oldest first (the next ones)."""
        clauses, parameters = self._filter(event_filter)
        clauses.append(f"seq > {self._dialect.mark}")
        parameters.append(after)
        return self._listing(self._below_horizon(clauses, parameters), parameters, "ASC", limit)

    def _below_horizon(self, clauses: list[str], parameters: list[Any]) -> list[str]:
        """``clauses`` and, when the backend has a horizon, the clause that stays below it
        (its value added to ``parameters``): a listing never shows an event before an older
        one that is still being committed."""
        horizon = self._horizon()
        if horizon is None:
            return clauses
        parameters.append(horizon)
        return [*clauses, f"seq < {self._dialect.mark}"]

    def _filter(self, event_filter: EventFilter) -> tuple[list[str], list[Any]]:
        clauses: list[str] = []
        parameters: list[Any] = []
        for column in _FILTER_COLUMNS:
            value = getattr(event_filter, column)
            if value is not None:
                clauses.append(f"{column} = {self._dialect.mark}")
                parameters.append(value)
        return clauses, parameters

    def _listing(
        self, clauses: list[str], parameters: list[Any], order: str, limit: int
    ) -> list[StoredEvent]:
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._query(
            f"SELECT seq, source, message FROM events {where} "
            f"ORDER BY seq {order} LIMIT {self._dialect.mark}",
            [*parameters, limit],
        )
        return [stored_event(row) for row in rows]

    def read_range(self, event_range: EventRange, after: int, limit: int) -> list[StoredEvent]:
        """Up to ``limit`` events of ``event_range`` after ``after``, oldest first; see
        ``EventQuery.read_range``. A walk up the ``seq`` index from ``after``, like ``newer``."""
        mark = self._dialect.mark
        clauses = [f"seq > {mark}"]
        parameters: list[Any] = [after]
        for clause, value in (
            (f"seq <= {mark}", event_range.last_seq),
            (f"source = {mark}", event_range.source),
            (f"received_at >= {mark}", event_range.since),
            (f"received_at < {mark}", event_range.until),
        ):
            if value is not None:
                clauses.append(clause)
                parameters.append(value)
        return self._listing(self._below_horizon(clauses, parameters), parameters, "ASC", limit)

    def count(self, source: str | None = None) -> int:
        """How many events are stored, for one source or all."""
        if source is None:
            return int(self._query("SELECT count(*) FROM events")[0][0])
        rows = self._query(
            f"SELECT count(*) FROM events WHERE source = {self._dialect.mark}", (source,)
        )
        return int(rows[0][0])

    # -- deletion (privacy regulations) ----------------------------------------------------

    def delete_events(
        self,
        *,
        user_ids: Sequence[str] = (),
        anonymous_ids: Sequence[str] = (),
        seqs: Sequence[int] = (),
    ) -> list[int]:
        """Delete every event carrying one of these user or anonymous ids, and the events at
        ``seqs``; returns the positions deleted, in order.

        The deleted values are then scrubbed from the database's files (``_scrub``): a reader of
        the files afterwards finds nothing of them.
        """
        deleted: set[int] = set()
        users, anonymous, positions = sorted(set(user_ids)), sorted(set(anonymous_ids)), seqs
        # One scan of the log for the usual person (a few ids); more ids, a scan per chunk.
        while users or anonymous or positions:
            clauses: list[str] = []
            parameters: list[Any] = []
            for column, values in (("user_id", users), ("anonymous_id", anonymous)):
                if values:
                    clauses.append(
                        f"{column} IN ({self._dialect.marks(len(values[:GET_MANY_CHUNK]))})"
                    )
                    parameters.extend(values[:GET_MANY_CHUNK])
            chunk = sorted(set(positions[:GET_MANY_CHUNK]))
            if chunk:
                clauses.append(f"seq IN ({self._dialect.marks(len(chunk))})")
                parameters.extend(chunk)
            deleted.update(
                self._delete(
                    f"DELETE FROM events WHERE {' OR '.join(clauses)} RETURNING seq", parameters
                )
            )
            users, anonymous = users[GET_MANY_CHUNK:], anonymous[GET_MANY_CHUNK:]
            positions = positions[GET_MANY_CHUNK:]
        if deleted:
            self._scrub()
        return sorted(deleted)

    def _scrub(self) -> None:
        """Make deleted rows leave the database's files (a backend's own way)."""

    def _delete(self, sql: str, parameters: Sequence[Any]) -> list[int]:
        try:
            with self._reader() as connection:
                return [int(row[0]) for row in connection.execute(sql, parameters).fetchall()]
        except self._dialect.failure as exc:
            raise StorageError(f"deleting events failed: {exc}") from exc


def stored_event(row: tuple[int, str, bytes]) -> StoredEvent:
    """The event of one ``(seq, source, message)`` row."""
    seq, source, message = row
    return StoredEvent(seq=seq, source=source, message=orjson.loads(message))
