"""Commit order on PostgreSQL: many appenders commit at once, readers stop at the horizon.

A ``seq`` drawn from a sequence is not commit-ordered: a transaction that drew seq 10 may commit
after one that drew seq 11, and a reader that had passed 11 would skip 10 for ever. Rather than
committing one appender after another, each appender announces itself before it draws, and
readers read only below the first seq that may still appear.

The appender, inside its transaction (:func:`draw_seqs`), under a session-level *draw lock* held
for one round trip: reads the sequence's next value ``first``, registers itself in flight with a
transaction-scoped shared advisory lock keyed by (schema, ``first``), moves the sequence past the
``n`` seqs it needs, and releases the draw lock. It then inserts its rows and commits without any
shared lock, so the WAL flushes of many processes overlap. Its registration lasts until its
transaction ends: PostgreSQL releases transaction locks only after the commit is visible to new
snapshots, on abort, and when its backend dies.

A reader (:func:`horizon`) takes no lock. It reads, in this order, the sequence's last drawn
value and the registrations in ``pg_locks`` (neither is subject to MVCC: both are live). The
horizon is the smallest registered ``first`` not above the last drawn value + 1, or that value
when none is. An appender registers before the sequence moves, so a reader that saw its seqs drawn
then finds its registration, or finds it ended: every seq below the horizon was drawn by a
transaction that has ended, and a query whose snapshot is taken after the horizon was read sees
every row below it that will ever exist. The horizon never goes back: an appender registering
after a reader looked draws above what that reader saw as drawn, because reading ``first``,
registering and drawing happen together under the draw lock. Seqs drawn by an appender that
aborts, or for rows that were duplicates, are never used: readers see gaps, never a late row.

The sequence must hand out values one at a time (``CACHE 1``, migration ``events/0004``):
a backend's cached values would be drawn behind the horizon.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import psycopg

from audience.errors import StorageError

DRAW_LOCK: Final = 0x617569
"""First half of the key of the draw lock (the second is per schema)."""

SEQ_KEY_SPACE: Final = 1 << 32
"""A registration's key carries the low 32 bits of its ``first`` seq."""

_REGISTRATION_CLASS: Final = "hashtext('audience events in flight:' || current_schema())"
"""The high half of every registration key of this schema (the low half is the first seq's)."""

_LAST_DRAWN: Final = "SELECT coalesce(pg_sequence_last_value('events_seq'), 0)"
"""The last seq drawn, 0 before the first (the sequence starts at 1 and is not yet called)."""

_NEXT_SEQ: Final = f"{_LAST_DRAWN} + 1"

_REGISTRATIONS: Final = (
    "SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    f" AND classid = ({_REGISTRATION_CLASS}::bigint & 4294967295)::oid"
)


def _draw_statements(count: int) -> str:
    """The draw of ``count`` seqs: four statements sent as one query (one round trip)."""
    lock = f"{DRAW_LOCK}, hashtext(current_schema())"
    return (
        f"SELECT pg_advisory_lock({lock});"
        f"SELECT first, pg_advisory_xact_lock_shared(({_REGISTRATION_CLASS}::bigint << 32)"
        f" | (first & 4294967295)) FROM ({_NEXT_SEQ}) AS next (first);"
        f"SELECT setval('events_seq', ({_NEXT_SEQ}) + {int(count) - 1});"
        f"SELECT pg_advisory_unlock({lock})"
    )


def draw_seqs(connection: psycopg.Connection[Any], count: int) -> int:
    """Reserve ``count`` consecutive seqs for the open transaction; returns the first.

    The transaction stays registered in flight until it ends. When this fails the draw lock
    may still be held by the session: call :func:`release_draw_lock` after the rollback (or
    close the connection).
    """
    if count < 1:
        raise ValueError("draw at least one seq")
    with connection.cursor() as cursor:
        cursor.execute(_draw_statements(count).encode())
        cursor.nextset()
        row = cursor.fetchone()
    if row is None:
        raise StorageError("the events sequence is missing")
    return int(row[0])


def release_draw_lock(connection: psycopg.Connection[Any]) -> None:
    """Drop the session's advisory locks (the draw lock is the only one an appender holds)."""
    connection.execute("SELECT pg_advisory_unlock_all()")


def horizon(connection: psycopg.Connection[Any]) -> int:
    """The smallest seq that may still become visible: every row below it is visible now.

    Read the rows afterwards, in a later statement (its snapshot must be newer).
    """
    with connection.cursor() as cursor:
        cursor.execute(f"{_LAST_DRAWN};{_REGISTRATIONS}".encode())
        row = cursor.fetchone()
        last_drawn = int(row[0]) if row is not None else 0
        cursor.nextset()
        registered = [int(found[0]) for found in cursor.fetchall()]
    return horizon_of(last_drawn, registered)


def horizon_of(last_drawn: int, registered_low_bits: Iterable[int]) -> int:
    """The horizon from the last drawn seq and the low 32 bits of each in-flight first seq.

    A registration read after ``last_drawn`` may be above it (an appender drew in between);
    each is taken as the first seq nearest ``last_drawn + 1`` with those low bits, which is
    right while no appender stays in flight for 2**31 seqs. Those above do not lower it.
    """
    upper = last_drawn + 1
    firsts = (upper - (upper - low) % SEQ_KEY_SPACE for low in registered_low_bits)
    return min((first for first in firsts if upper - first < SEQ_KEY_SPACE // 2), default=upper)
