"""Group commit: one thread owns the SQLite write connection and commits many requests at once.

SQLite allows one writer at a time and a durable commit costs an fsync, so one thread
takes every pending append from its queue, inserts them all in one transaction and only
then resolves each caller's future. Under load each fsync covers many requests; with a
single caller it costs one transaction per request, as it must.

``GroupCommitQueue`` is that hand-off (queue, thread, futures), shared with the PostgreSQL
writer; ``GroupCommitWriter`` adds SQLite's commit. The queue also keeps the writer's health
(``health``): how long the oldest unanswered append has waited and how the last commits went,
read without waiting by the collector's readiness check.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from itertools import chain
from typing import ClassVar

from audience.errors import StorageError
from audience.storage.base import AppendResult, EventRecord

logger = logging.getLogger(__name__)

INSERT_EVENTS = (
    "INSERT OR IGNORE INTO events (source, message_id, type, user_id, anonymous_id, event, "
    "received_at, timestamp, request_ip, message) VALUES "
)
ROW_MARKS = "(?,?,?,?,?,?,?,?,?,?)"
ROWS_PER_STATEMENT = 500
"""Rows bound into one multi-row INSERT (5,000 parameters, far below SQLite's 32,766).

A few large statements per commit rather than one per row or per request: the sqlite3
module releases and takes back the GIL around every statement step, and taking it back
from a busy event loop can wait a whole switch interval.
"""

MAX_ROWS_PER_COMMIT = 20_000
"""Bounds one transaction so a flood of requests cannot hold the write lock for long."""

CommitListener = Callable[[int], None]
"""Called on the writer thread after each commit with the newest ``seq``.

It must never wait: every later append of the process waits behind it. Wake other
threads with ``call_soon_threadsafe`` or an event, other processes with a
:class:`~audience.supervision.Doorbell`, never with anything that can block on its reader.
"""

CommitTimer = Callable[[float], None]
"""Called on the writer thread after each commit, or failed one, with the seconds it took."""


@dataclass
class PendingAppend:
    """One caller's records and where its result goes: a thread future or an event loop's.

    ``queued_at`` is the monotonic time it was made, to tell how long it has waited.
    """

    records: Sequence[EventRecord]
    future: Future[AppendResult] | None = None
    loop: asyncio.AbstractEventLoop | None = None
    waiter: asyncio.Future[AppendResult] | None = None
    queued_at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class WriterHealth:
    """How the writer is doing, as ages in seconds at the moment it was read.

    ``oldest_wait`` is how long the oldest append not yet answered has waited (0 when the
    writer is idle); an append waits behind the group being committed, so it also grows
    while a commit or a commit listener hangs. ``failures_in_a_row`` counts the commits that
    failed since the last one that succeeded. ``running`` is false once the writer thread
    has ended (closed, or died).
    """

    running: bool
    queued: int
    oldest_wait: float
    failures_in_a_row: int
    since_last_failure: float | None
    since_last_commit: float | None

    @classmethod
    def idle(cls) -> WriterHealth:
        """A writer that has not been started: nothing waits, nothing failed."""
        return cls(True, 0, 0.0, 0, None, None)


Outcome = AppendResult | BaseException


def _deliver(replies: list[tuple[asyncio.Future[AppendResult], Outcome]]) -> None:
    """Resolve an event loop's waiters; runs on that loop, once per commit."""
    for waiter, outcome in replies:
        if waiter.done():
            continue  # the request was cancelled (client gone); its events are stored anyway
        if isinstance(outcome, BaseException):
            waiter.set_exception(outcome)
        else:
            waiter.set_result(outcome)


class GroupCommitQueue:
    """The hand-off of group commit: any thread queues appends, one thread commits them.

    A writer of one database subclasses it: it sets its connection before calling
    ``__init__`` (which starts the thread), commits a group in ``_commit`` (resolving every
    append of the group with ``_resolve``, whatever happens) and closes its connection in
    ``_close_connection``.
    """

    max_rows_per_commit: ClassVar[int] = MAX_ROWS_PER_COMMIT

    def __init__(self, thread_name: str) -> None:
        self._queue: queue.SimpleQueue[PendingAppend | None] = queue.SimpleQueue()
        self._listeners: list[CommitListener] = []
        self._timers: list[CommitTimer] = []
        self._closed = False
        self._lock = threading.Lock()
        self._busy_since: float | None = None
        self._failures_in_a_row = 0
        self._last_failure_at: float | None = None
        self._last_commit_at: float | None = None
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)
        self._thread.start()

    def add_listener(self, listener: CommitListener) -> None:
        """Call ``listener(last_seq)`` after every commit that stored at least one event."""
        self._listeners.append(listener)

    def add_timer(self, timer: CommitTimer) -> None:
        """Call ``timer(seconds)`` after every commit with the time it took (metrics)."""
        self._timers.append(timer)

    def submit(self, records: Sequence[EventRecord]) -> Future[AppendResult]:
        """Queue ``records`` for the next commit; the future resolves once they are durable."""
        future: Future[AppendResult] = Future()
        self._enqueue(PendingAppend(records, future=future))
        return future

    def submit_async(self, records: Sequence[EventRecord]) -> asyncio.Future[AppendResult]:
        """``submit`` for the running event loop.

        The writer wakes each loop once per commit for all of that loop's callers, instead
        of once per caller.
        """
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[AppendResult] = loop.create_future()
        self._enqueue(PendingAppend(records, loop=loop, waiter=waiter))
        return waiter

    def _enqueue(self, item: PendingAppend) -> None:
        with self._lock:
            if not self._closed:
                self._queue.put(item)
                return
        self._answer([item], [StorageError("the event store is closed")])

    def health(self) -> WriterHealth:
        """The writer's health now; reads a few fields and never waits."""
        now = time.monotonic()
        busy_since, failed_at, committed_at = (
            self._busy_since,
            self._last_failure_at,
            self._last_commit_at,
        )
        return WriterHealth(
            running=self._thread.is_alive(),
            queued=self._queue.qsize(),
            oldest_wait=0.0 if busy_since is None else max(0.0, now - busy_since),
            failures_in_a_row=self._failures_in_a_row,
            since_last_failure=None if failed_at is None else now - failed_at,
            since_last_commit=None if committed_at is None else now - committed_at,
        )

    def _resolve(self, group: Sequence[PendingAppend], outcomes: Sequence[Outcome]) -> None:
        """Answer a committed or failed group (on the writer thread) and note how it went.

        A group commits or fails whole: its outcomes are all results or all errors.
        """
        if outcomes and isinstance(outcomes[0], BaseException):
            self._failures_in_a_row += 1
            self._last_failure_at = time.monotonic()
        else:
            self._failures_in_a_row = 0
            self._last_commit_at = time.monotonic()
        self._answer(group, outcomes)

    @staticmethod
    def _answer(group: Sequence[PendingAppend], outcomes: Sequence[Outcome]) -> None:
        """Hand each caller its outcome: thread futures at once, each event loop in one call."""
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[AppendResult], Outcome]]]
        by_loop = {}
        for item, outcome in zip(group, outcomes, strict=True):
            if item.future is not None and not item.future.done():
                if isinstance(outcome, BaseException):
                    item.future.set_exception(outcome)
                else:
                    item.future.set_result(outcome)
            if item.loop is not None and item.waiter is not None:
                by_loop.setdefault(item.loop, []).append((item.waiter, outcome))
        for loop, replies in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the loop has already closed
                loop.call_soon_threadsafe(_deliver, replies)

    def _tell_listeners(self, last_seq: int) -> None:
        for listener in self._listeners:
            try:
                listener(last_seq)
            except Exception:
                logger.exception("a commit listener failed")

    def close(self) -> None:
        """Commit everything already submitted, then stop; later submits fail."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        self._thread.join()
        self._close_connection()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            group = [first]
            rows = len(first.records)
            while rows < self.max_rows_per_commit:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                group.append(item)
                rows += len(item.records)
            # The queue is first in, first out: what is still queued came after this group.
            self._busy_since = first.queued_at
            started = time.perf_counter()
            try:
                self._commit(group)
            finally:
                self._busy_since = None
                self._time(time.perf_counter() - started)

    def _time(self, seconds: float) -> None:
        for timer in self._timers:
            try:
                timer(seconds)
            except Exception:
                logger.exception("a commit timer failed")

    def _commit(self, group: list[PendingAppend]) -> None:
        raise NotImplementedError

    def _close_connection(self) -> None:
        raise NotImplementedError


class GroupCommitWriter(GroupCommitQueue):
    """The single writer of one SQLite database.

    ``submit`` may be called from any thread. ``close`` commits what is queued, then
    stops the thread and closes the connection.
    """

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection
        super().__init__("audience-sqlite-writer")

    def _close_connection(self) -> None:
        self._connection.close()

    def _commit(self, group: list[PendingAppend]) -> None:
        try:
            self._commit_group(group)
        except Exception as exc:  # keep the writer alive: callers must never wait forever
            logger.exception("the writer failed on a group of %d appends", len(group))
            with contextlib.suppress(sqlite3.Error):
                if self._connection.in_transaction:
                    self._connection.execute("ROLLBACK")
            error = StorageError(f"could not commit events: {exc}")
            self._resolve(group, [error] * len(group))

    def _commit_group(self, group: list[PendingAppend]) -> None:
        connection = self._connection
        results: list[AppendResult] = []
        try:
            connection.execute("BEGIN IMMEDIATE")
            for item, stored in zip(group, _insert_group(connection, group), strict=True):
                results.append(AppendResult(stored, len(item.records) - stored))
            last_seq = 0
            if self._listeners:
                last_seq = connection.execute("SELECT max(seq) FROM events").fetchone()[0] or 0
            connection.execute("COMMIT")
        except sqlite3.Error as exc:
            logger.exception("committing %d appends failed", len(group))
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            error = StorageError(f"could not commit events: {exc}")
            self._resolve(group, [error] * len(group))
            return
        self._resolve(group, results)
        if any(result.stored for result in results):
            self._tell_listeners(last_seq)


@functools.lru_cache(maxsize=64)
def _insert_sql(rows: int) -> str:
    return INSERT_EVENTS + ",".join([ROW_MARKS] * rows)


NEWEST_KEYS = "SELECT source, message_id FROM events ORDER BY seq DESC LIMIT ?"


def _insert_group(connection: sqlite3.Connection, group: Sequence[PendingAppend]) -> list[int]:
    """Insert every record of the group (duplicates ignored); how many of each item were new.

    All rows go through a few large statements, each taking one step: no ``RETURNING``
    rows to fetch, because every step gives the GIL back to the event loop and can wait a
    switch interval to get it again. When a statement changed fewer rows than it carried
    (a resent message), its new rows are the newest by ``seq``, read back by one query,
    and each new (source, message id) is credited to the first item that sent it.
    """
    records = list(chain.from_iterable(item.records for item in group))
    chunks: list[tuple[list[EventRecord], list[tuple[str, str]] | None]] = []
    for start in range(0, len(records), ROWS_PER_STATEMENT):
        chunk = records[start : start + ROWS_PER_STATEMENT]
        parameters = list(chain.from_iterable(chunk))
        changed = connection.execute(_insert_sql(len(chunk)), parameters).rowcount
        new_keys = None  # every row of the chunk is new
        if changed != len(chunk):
            new_keys = connection.execute(NEWEST_KEYS, (changed,)).fetchall()
        chunks.append((chunk, new_keys))
    if all(new_keys is None for _, new_keys in chunks):
        return [len(item.records) for item in group]
    inserted: set[tuple[str, str]] = set()
    for chunk, new_keys in chunks:
        if new_keys is None:
            inserted.update((record.source, record.message_id) for record in chunk)
        else:
            inserted.update(new_keys)
    counts: list[int] = []
    for item in group:
        stored = 0
        for record in item.records:
            key = (record.source, record.message_id)
            if key in inserted:
                inserted.discard(key)
                stored += 1
        counts.append(stored)
    return counts
