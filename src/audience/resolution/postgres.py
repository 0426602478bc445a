"""The PostgreSQL profile store: the identity graph shared by resolvers in many processes.

It keeps the same tables as the SQLite store (migrations ``profiles/0001`` and ``0002``) and
applies events with the same rules: the SQLite store's statements run through :class:`Dialect`,
which turns SQLite's spelling (``?`` marks, ``INSERT OR IGNORE``, two-argument ``min``/``max``)
into PostgreSQL's. A batch runs in pipeline mode: the store draws its own row ids and reads once
per link, so its writes never wait for a round trip each.

Serialisation. Each ``apply`` is one transaction that first takes a transaction-scoped advisory
lock on the store (its cursor is one row, so batches apply one at a time, in log order, which also
lets a batch draw row ids from the largest ones stored) and
then one advisory lock per identifier the batch touches, in sorted order of their hashes so
that two transactions never wait on each other in a cycle. A resolver that waited re-reads the
cursor under the lock and skips events another resolver has already applied, so any number of
``audience serve`` processes may run resolvers against one database without losing a merge.
"""

from __future__ import annotations

import functools
import re
import sqlite3
import threading
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final, cast

import psycopg

from audience.errors import StorageError
from audience.eventlog import StoredEvent
from audience.identity.graph import Limits, identity_of
from audience.identity.identifiers import Identifier
from audience.resolution.schema import TABLES
from audience.resolution.sqlite import SQLiteProfileStore
from audience.storage.postgres import connect
from audience.storage.postgres_migrations import migrate

APPLY_LOCK: Final = 0x617566
"""First half of the advisory lock key that serialises batches (the second is per schema)."""

IDENTIFIER_LOCK: Final = 0x617567
"""First half of the per-identifier advisory lock keys (the second is a hash of the key)."""

_INSERT_OR_IGNORE = re.compile(r"INSERT OR IGNORE INTO")


@functools.lru_cache(maxsize=256)
def translate(sql: str) -> str:
    """PostgreSQL's spelling of one SQLite statement.

    The store draws its own row ids (see :mod:`audience.resolution.linking`), so no insert asks
    for one back, and in pipeline mode no write waits for its answer.
    """
    text = sql.replace("%", "%%").replace("?", "%s")
    ignore = bool(_INSERT_OR_IGNORE.search(text))
    text = _INSERT_OR_IGNORE.sub("INSERT INTO", text)
    text = re.sub(r"\bmin\(coalesce\(", "LEAST(coalesce(", text)
    text = re.sub(r"\bmax\(coalesce\(", "GREATEST(coalesce(", text)
    text = text.replace("max(ord, excluded.ord)", "GREATEST(identifier_groups.ord, excluded.ord)")
    text = text.replace("last_seen DESC", "last_seen DESC NULLS LAST")
    text = text.replace(" LIKE ", " ILIKE ")  # SQLite's LIKE ignores ASCII case
    if ignore:
        text += " ON CONFLICT DO NOTHING"
    return text


class _Result:
    """The part of a ``sqlite3.Cursor`` the profile store uses."""

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._cursor = cursor

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cursor.fetchall())


class Dialect:
    """A PostgreSQL connection that answers ``execute``/``executemany`` as ``sqlite3`` does."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self.connection = connection

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> _Result:
        return _Result(self.connection.execute(translate(sql).encode(), parameters))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        with self.connection.cursor() as cursor:
            cursor.executemany(translate(sql).encode(), rows)


def _identifier_key(identifier: Identifier) -> int:
    """A stable 32-bit signed hash of an identifier, the second half of its lock key."""
    return zlib.crc32(identifier.key.encode()) - 2**31


class PostgresProfileStore(SQLiteProfileStore):
    """:class:`~audience.resolution.store.ProfileStore` on PostgreSQL, shared by many processes."""

    def __init__(
        self, url: str, *, link_email: bool | None = None, limits: Limits | None = None
    ) -> None:
        self.url = url
        self._take_rules(link_email, limits)
        self._write_lock = threading.Lock()
        self._connections_lock = threading.Lock()
        self._idle: list[psycopg.Connection[Any]] = []
        self._open: list[psycopg.Connection[Any]] = []
        self._closed = False
        writer = connect(url)
        self._open.append(writer)
        self._pg_writer = writer
        try:
            migrate(writer, "profiles")
            self._check_generation(self._sqlite_view(Dialect(writer)))
        except psycopg.Error as exc:
            self.close()
            raise StorageError(f"cannot open the profile store: {exc}") from exc
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _sqlite_view(dialect: Dialect) -> sqlite3.Connection:
        # The shared statements are typed for sqlite3; Dialect answers the calls they make.
        return cast(sqlite3.Connection, dialect)

    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        with self._connections_lock:
            if self._closed:
                raise StorageError("the profile store is closed")
            connection = self._idle.pop() if self._idle else None
        if connection is None:
            connection = connect(self.url)
            with self._connections_lock:
                self._open.append(connection)
        try:
            yield self._sqlite_view(Dialect(connection))
        except psycopg.Error as exc:
            raise StorageError(f"reading the profile store failed: {exc}") from exc
        finally:
            with self._connections_lock:
                if self._closed or connection.broken:
                    connection.close()
                else:
                    self._idle.append(connection)

    def close(self) -> None:
        """Close every connection this store opened."""
        with self._write_lock, self._connections_lock:
            if self._closed:
                return
            self._closed = True
            for connection in self._open:
                connection.close()
            self._open.clear()
            self._idle.clear()

    def apply(self, events: Sequence[StoredEvent]) -> None:
        if not events:
            return
        ordered = sorted(events, key=lambda e: e.seq)
        touched = {
            identifier
            for event in ordered
            for identifier in identity_of(event.message, link_email=self.link_email).identifiers
        }
        keys = sorted({_identifier_key(identifier) for identifier in touched})
        with self._write_lock:
            connection = self._pg_writer
            db = self._sqlite_view(Dialect(connection))
            try:
                # In pipeline mode a statement whose result is never read (most writes) does
                # not wait for its round trip; a read waits for everything before it.
                with connection.pipeline(), connection.transaction():
                    connection.execute(
                        "SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))",
                        (APPLY_LOCK,),
                    )
                    connection.execute(
                        "SELECT pg_advisory_xact_lock(%s, k) FROM unnest(%s::int[]) AS k "
                        "ORDER BY k",
                        (IDENTIFIER_LOCK, keys),
                    )
                    self._apply_batch(db, ordered)
            except BaseException as exc:
                self._node_ids.clear()
                if isinstance(exc, psycopg.Error):
                    raise StorageError(f"cannot apply events to the profile store: {exc}") from exc
                raise

    def _empty_tables(self, db: sqlite3.Connection) -> None:
        self._pg_writer.execute(("TRUNCATE " + ", ".join(TABLES) + " RESTART IDENTITY").encode())

    def clear(self, *, link_email: bool | None = None) -> None:
        """Forget every profile; ``link_email`` also records whether emails link from now on."""
        with self._write_lock:
            connection = self._pg_writer
            db = self._sqlite_view(Dialect(connection))
            try:
                with connection.transaction():
                    connection.execute(
                        "SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))",
                        (APPLY_LOCK,),
                    )
                    db.executemany(
                        "INSERT INTO state (name, value) VALUES (?, ?)",
                        self._cleared_state(db, link_email),
                    )
            except psycopg.Error as exc:
                raise StorageError(f"cannot clear the profile store: {exc}") from exc
            finally:
                self._node_ids.clear()
            self._check_generation(db)
