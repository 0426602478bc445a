"""The PostgreSQL event store: the same contracts as the SQLite store, shared by many processes.

``PostgresEventStore`` implements ``EventSink``, ``EventFeed``, ``EventQuery`` and
``SourceRegistry`` on one PostgreSQL database, so any number of collector processes on any
number of hosts can write to it and any reader can follow it.

Commit order. Appending transactions of many processes commit at the same time, each with the
seqs it drew, so seqs do not commit in order; readers see them in order all the same, because
they read only below the horizon of :mod:`audience.storage.postgres_order` (the first seq that
may still appear). Each process commits many requests per transaction (group commit), and the
only step appenders take one at a time is the draw of their seqs, one round trip; the inserts
and the WAL flushes of the processes overlap.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any, Final

import psycopg

from audience.clock import Clock
from audience.errors import StorageError
from audience.eventlog import StoredEvent
from audience.storage.base import AppendResult
from audience.storage.event_store import SqlEventStore, stored_event
from audience.storage.postgres import POSTGRES, connect
from audience.storage.postgres_migrations import migrate
from audience.storage.postgres_order import draw_seqs, horizon, release_draw_lock
from audience.storage.writer import GroupCommitQueue, PendingAppend

logger = logging.getLogger(__name__)

COLUMNS: Final = (
    "source, message_id, type, user_id, anonymous_id, event, received_at, timestamp, "
    "request_ip, message"
)

CREATE_INCOMING: Final = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS incoming (source text, message_id text, type text, "
    "user_id text, anonymous_id text, event text, received_at text, timestamp text, "
    "request_ip text, message bytea) ON COMMIT DELETE ROWS"
)
"""Each writer connection's staging table: COPY fills it, one INSERT moves it (about twice as
fast as a multi-row INSERT with bound parameters), and the commit empties it."""

COPY_INCOMING: Final = f"COPY incoming ({COLUMNS}) FROM STDIN"

INSERT_EVENTS: Final = (
    f"INSERT INTO events (seq, {COLUMNS}) SELECT seq, {COLUMNS} FROM ("
    f"SELECT %s::bigint + row_number() OVER () - 1 AS seq, {COLUMNS} FROM incoming) AS drawn "
    "ORDER BY source, message_id "
    "ON CONFLICT (source, message_id) DO NOTHING RETURNING seq, source, message_id"
)
"""The staged rows take the drawn seqs in the order they came; they are inserted in key order,
so two appenders inserting the same resent messages wait for one another, never deadlock."""

MAX_ROWS_PER_COMMIT: Final = 20_000
"""Bounds one transaction, and so how long it keeps the readers' horizon behind it."""


class PostgresWriter(GroupCommitQueue):
    """This process's appender: one thread, one connection, many requests per transaction.

    It takes queued appends through :class:`~audience.storage.writer.GroupCommitQueue`, as
    the SQLite writer does, and commits each group with seqs drawn by
    :func:`~audience.storage.postgres_order.draw_seqs`, so readers in every process see them in
    order.
    """

    max_rows_per_commit = MAX_ROWS_PER_COMMIT

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self._connection = connection
        self._staged = False
        super().__init__("audience-postgres-writer")

    def _close_connection(self) -> None:
        self._connection.close()

    def _commit(self, group: list[PendingAppend]) -> None:
        records = [record for item in group for record in item.records]
        connection = self._connection
        try:
            inserted = []
            if records:
                if not self._staged:
                    connection.execute(CREATE_INCOMING)
                    self._staged = True
                with connection.transaction():
                    with connection.cursor() as cursor, cursor.copy(COPY_INCOMING) as copy:
                        for record in records:
                            copy.write_row(record)
                    first = draw_seqs(connection, len(records))
                    inserted = connection.execute(INSERT_EVENTS, (first,)).fetchall()
        except Exception as exc:  # keep the writer alive: callers must never wait forever
            logger.exception("committing %d appends failed", len(group))
            self._recover()
            error = StorageError(f"could not commit events: {exc}")
            self._resolve(group, [error] * len(group))
            return
        new = {(source, message_id) for _, source, message_id in inserted}
        results: list[AppendResult] = []
        for item in group:
            stored = 0
            for record in item.records:
                key = (record.source, record.message_id)
                if key in new:
                    new.discard(key)
                    stored += 1
            results.append(AppendResult(stored, len(item.records) - stored))
        self._resolve(group, results)
        if inserted:
            self._tell_listeners(max(int(row[0]) for row in inserted))

    def _recover(self) -> None:
        """After a failed commit: make sure the draw lock is not left held (every appender would
        wait on it), reconnecting when the connection is lost or cannot say."""
        if not self._connection.broken:
            try:
                release_draw_lock(self._connection)
                return
            except psycopg.Error:
                logger.exception("releasing the draw lock failed; reconnecting")
        self._reconnect()

    def _reconnect(self) -> None:
        info = self._connection.info
        with contextlib.suppress(psycopg.Error):
            self._connection.close()
        try:
            self._connection = psycopg.connect(info.dsn, password=info.password, autocommit=True)
            self._staged = False
        except psycopg.Error:
            logger.exception("reconnecting the event writer failed; the next commit retries")


class PostgresEventStore(SqlEventStore):
    """The event store on PostgreSQL; open it with ``PostgresEventStore.open(url)`` and close it.

    The same methods as :class:`~audience.storage.sqlite_events.SqliteEventStore`. Commit listeners
    hear of this process's commits only; readers in other processes poll.
    """

    _dialect = POSTGRES

    def __init__(self, url: str, *, clock: Clock | None = None) -> None:
        super().__init__(clock=clock)
        self.url = url

    @classmethod
    def open(cls, url: str, *, clock: Clock | None = None) -> PostgresEventStore:
        """Connect to ``url`` and apply the event store's missing migrations."""
        store = cls(url, clock=clock)
        with connect(url) as connection:
            migrate(connection, "events")
        return store

    # -- what differs from the shared store ------------------------------------------------

    def _open_reader(self) -> psycopg.Connection[Any]:
        return connect(self.url)

    def _new_writer(self) -> PostgresWriter:
        return PostgresWriter(connect(self.url))

    def _reusable(self, connection: Any) -> bool:
        return not connection.broken

    def _horizon(self) -> int:
        """The first seq that may still be committed (:mod:`audience.storage.postgres_order`)."""
        try:
            with self._reader() as connection:
                return horizon(connection)
        except psycopg.Error as exc:
            raise StorageError(f"reading the event store failed: {exc}") from exc

    def _scrub(self) -> None:
        """``VACUUM`` the tables deletions touch, so the deleted rows' space is reclaimed."""
        try:
            with self._reader() as connection:
                connection.execute("VACUUM events, regulation_subjects")
        except psycopg.Error as exc:
            raise StorageError(f"vacuuming the events failed: {exc}") from exc

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        with self._reader() as connection:
            try:
                with connection.transaction():
                    yield connection
            except psycopg.Error as exc:
                raise StorageError(f"writing the event store failed: {exc}") from exc

    def reclaim_space(self) -> str | None:
        """A plain ``VACUUM`` of the events table: the space of pruned rows is reused by new
        ones (it never blocks the writers); the file shrinks only by ``VACUUM FULL``, left to
        the operator."""
        try:
            with self._reader() as connection:
                connection.execute("VACUUM events")
        except psycopg.Error as exc:
            raise StorageError(f"vacuuming the events table failed: {exc}") from exc
        return "VACUUM events"

    # -- EventFeed -------------------------------------------------------------------------

    def get_many(self, seqs: Sequence[int]) -> list[StoredEvent]:
        """The events at these positions, in ``seq`` order; unknown ones are left out."""
        wanted = sorted(set(seqs))
        if not wanted:
            return []
        rows = self._query(
            "SELECT seq, source, message FROM events WHERE seq = ANY(%s::bigint[]) ORDER BY seq",
            (wanted,),
        )
        return [stored_event(row) for row in rows]
