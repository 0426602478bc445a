"""Retention on the event log: how long each source's events are kept, and pruning them.

Both event stores run the same statements; :class:`SqlEventPruning` holds them once, spelled
with the store's :class:`~audience.storage.dialect.SqlDialect`. A backend supplies the
transaction (``_write``) and how freed space goes back to the system (``reclaim_space``).

A source's own retention is kept in the ``meta`` table (``retention_days:<source>``), so it
needs no schema of its own and every process that opens the store reads the same one. The
number of events pruned so far is kept there too (``events_pruned``): once it is above 0,
rebuilding the profiles from the log would lose what the pruned events told them.

What may be pruned is decided by the caller (the profiles and every destination must be past
an event); this module only deletes, in short transactions of at most ``PRUNE_CHUNK``
positions each so that the collector's writer never waits long, and never the newest event
(SQLite draws the next position from the largest one stored).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from audience.errors import ValidationError
from audience.storage.dialect import SqlDialect

PRUNE_CHUNK: Final = 2_000
"""Log positions one pruning transaction covers."""

RETENTION_PREFIX: Final = "retention_days:"
"""``meta`` keys of the sources' own retention, followed by the source's name."""

PRUNED_KEY: Final = "events_pruned"
"""``meta`` key of how many events pruning has deleted, all sources together."""

MAX_RETENTION_DAYS: Final = 36_500
"""The longest retention accepted (a hundred years)."""


@dataclass(frozen=True)
class PruneRule:
    """Events received before ``received_before`` (a stored ``receivedAt``) may go: those of
    ``source``, or with ``source`` left ``None`` those of every source not in ``others``."""

    received_before: str
    source: str | None = None
    others: tuple[str, ...] = ()


def check_retention_days(days: int) -> int:
    """``days`` if it is a retention this store accepts, else ``ValidationError``."""
    if isinstance(days, bool) or not 1 <= days <= MAX_RETENTION_DAYS:
        raise ValidationError(
            "days", f"must be a whole number of days from 1 to {MAX_RETENTION_DAYS}"
        )
    return days


class SqlEventPruning:
    """Retention settings and pruning on an event store's own connections.

    A store mixes this in and supplies ``_dialect``, ``_query`` (rows of one read),
    ``_transaction``, ``reclaim_space``, ``source_by_name`` and ``last_seq``.
    """

    _dialect: ClassVar[SqlDialect]

    def _query(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    def _transaction(self) -> AbstractContextManager[Any]:
        """A connection inside a write transaction, committed at the end (rolled back on an
        error, raised as ``StorageError``)."""
        raise NotImplementedError

    def reclaim_space(self) -> str | None:
        """Give the space of deleted events back when enough is free; what was done, if any."""
        raise NotImplementedError

    def source_by_name(self, name: str) -> Any:
        raise NotImplementedError

    def last_seq(self) -> int:
        raise NotImplementedError

    # -- the sources' own retention ------------------------------------------------------------

    def source_retention(self) -> dict[str, int]:
        """Each source with a retention of its own and its number of days."""
        m = self._dialect.mark
        rows = self._query(
            f"SELECT key, value FROM meta WHERE substr(key, 1, {len(RETENTION_PREFIX)}) = {m}",
            (RETENTION_PREFIX,),
        )
        return {str(key)[len(RETENTION_PREFIX) :]: int(value) for key, value in rows}

    def set_source_retention(self, name: str, days: int | None) -> None:
        """Keep ``name``'s events ``days`` days (``None``: as long as the server's retention).

        ``ValidationError`` for a source that does not exist or a number of days out of range.
        """
        if self.source_by_name(name) is None:
            raise ValidationError("name", f"no source is called {name!r}")
        m = self._dialect.mark
        key = RETENTION_PREFIX + name
        with self._transaction() as db:
            if days is None:
                db.execute(f"DELETE FROM meta WHERE key = {m}", (key,))
            else:
                db.execute(
                    f"INSERT INTO meta (key, value) VALUES ({m}, {m}) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (key, str(check_retention_days(days))),
                )

    def events_pruned(self) -> int:
        """How many events pruning has deleted from this store so far."""
        rows = self._query(
            f"SELECT value FROM meta WHERE key = {self._dialect.mark}", (PRUNED_KEY,)
        )
        return int(rows[0][0]) if rows else 0

    # -- pruning -----------------------------------------------------------------------------

    def prune(
        self,
        through: int,
        rules: Sequence[PruneRule],
        keep: Collection[int] = (),
        stopping: Callable[[], bool] | None = None,
    ) -> int:
        """Delete the events at positions up to ``through`` that a rule lets go, except those
        at the positions ``keep`` and the newest event; returns how many were deleted.

        ``stopping`` is asked before each transaction: once it answers true, pruning ends there
        (what is left goes the next time)."""
        newest = self.last_seq()
        through = min(through, newest - 1)
        first = self._query("SELECT coalesce(min(seq), 0) FROM events")[0][0]
        if through < int(first) or not rules:
            return 0
        held = sorted(set(keep))
        deleted = 0
        for rule in rules:
            upper = min(
                through, self._last_received_before(rule.received_before, int(first), through)
            )
            start = int(first) - 1
            while start < upper and not (stopping is not None and stopping()):
                end = min(start + PRUNE_CHUNK, upper)
                deleted += self._prune_range(start, end, rule, held)
                start = end
        return deleted

    def _prune_range(self, after: int, through: int, rule: PruneRule, held: list[int]) -> int:
        m = self._dialect.mark
        clauses = [f"seq > {m}", f"seq <= {m}", f"received_at < {m}"]
        parameters: list[Any] = [after, through, rule.received_before]
        if rule.source is not None:
            clauses.append(f"source = {m}")
            parameters.append(rule.source)
        elif rule.others:
            clauses.append(f"source NOT IN ({self._dialect.marks(len(rule.others))})")
            parameters.extend(rule.others)
        kept = held[bisect.bisect_right(held, after) : bisect.bisect_right(held, through)]
        if kept:
            clauses.append(f"seq NOT IN ({self._dialect.marks(len(kept))})")
            parameters.extend(kept)
        with self._transaction() as db:
            deleted = int(
                db.execute(f"DELETE FROM events WHERE {' AND '.join(clauses)}", parameters).rowcount
            )
            if deleted > 0:
                # Counted in the same transaction, so a store never lost events unrecorded.
                db.execute(
                    f"INSERT INTO meta (key, value) VALUES ({m}, {m}) ON CONFLICT (key) "
                    f"DO UPDATE SET value = CAST(CAST(meta.value AS BIGINT) + {m} AS TEXT)",
                    (PRUNED_KEY, str(deleted), deleted),
                )
        return deleted

    def _last_received_before(self, moment: str, low: int, high: int) -> int:
        """The last position up to ``high`` whose event was received before ``moment``, taking
        ``receivedAt`` to grow with the position (the collector stamps and commits in order; an
        event a little out of that order is left for the next run)."""
        m = self._dialect.mark
        found = low - 1
        while low <= high:
            middle = (low + high) // 2
            rows = self._query(
                f"SELECT seq, received_at FROM events WHERE seq >= {m} AND seq <= {m} "
                f"ORDER BY seq LIMIT 1",
                (middle, high),
            )
            if not rows:
                high = middle - 1
            elif str(rows[0][1]) < moment:
                found = int(rows[0][0])
                low = found + 1
            else:
                high = middle - 1
        return found
