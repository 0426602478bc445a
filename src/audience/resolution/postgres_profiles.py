"""The profile store on PostgreSQL: the identity graph shared by resolvers in many processes.

It keeps the same tables as the SQLite store (migrations ``profiles/postgres/``) and applies
events by the same statements (:class:`~audience.resolution.profile_store.SqlProfileStore`,
spelled with :data:`~audience.storage.postgres.POSTGRES`). A batch runs in pipeline mode: the
store draws its own row ids and reads once per link, so its writes never wait for a round trip
each.

Serialisation. Each ``apply`` is one transaction that first takes a transaction-scoped advisory
lock on the store (its cursor is one row, so batches apply one at a time, in log order, which also
lets a batch draw row ids from the largest ones stored) and
then one advisory lock per identifier the batch touches, in sorted order of their hashes so
that two transactions never wait on each other in a cycle. A resolver that waited re-reads the
cursor under the lock and skips events another resolver has already applied, so any number of
``audience serve`` processes may run resolvers against one database without losing a merge.
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final

import psycopg

from audience.errors import StorageError
from audience.eventlog import StoredEvent
from audience.identity.graph import Limits, identity_of
from audience.identity.identifiers import Identifier
from audience.resolution import deletion, queries
from audience.resolution.deletion import PersonDeletion
from audience.resolution.profile_store import EventIdentities, SqlProfileStore
from audience.resolution.schema import REBUILDING_MIGRATIONS, TABLES
from audience.storage.dialect import SqlSession
from audience.storage.postgres import POSTGRES, connect
from audience.storage.postgres_migrations import migrate

logger = logging.getLogger(__name__)

APPLY_LOCK: Final = 0x617566
"""First half of the advisory lock key that serialises batches (the second is per schema)."""

IDENTIFIER_LOCK: Final = 0x617567
"""First half of the per-identifier advisory lock keys (the second is a hash of the key)."""


TRIGRAM: Final = 3
"""Queries this long or longer are answered by the trigram indexes; shorter ones scan."""

CANDIDATES: Final = 2_000
"""Profiles an indexed search collects before it counts as broad: fewer are sorted by activity
at once; more are looked for among the newest profiles first."""

NEWEST_WALK: Final = 10_000
"""Newest profiles a broad or short query looks through first."""

_TRAIT_TEXT: Final = (
    "(CASE WHEN substr(t.value, 1, 1) = '\"' THEN t.value::jsonb #>> '{}' ELSE t.value END)"
)
"""A trait's text, spelled as ``profiles/postgres/0004_search_index`` indexes it."""

_MATCHES: Final = (
    "SELECT profile FROM identifiers WHERE value{scan} ILIKE %s ESCAPE '\\'"
    " UNION SELECT i.profile FROM identifier_traits t JOIN identifiers i ON i.id = t.identifier"
    f" WHERE {_TRAIT_TEXT}{{scan}} ILIKE %s ESCAPE '\\'"
)
"""The profiles holding a matching identifier or trait value. With ``scan`` left empty the
trigram indexes answer; ``|| ''`` makes an expression the indexes do not hold, so the planner
reads the tables (faster than an index for a query shorter than three characters)."""

_ORDER: Final = "ORDER BY p.last_seen DESC NULLS LAST, p.id DESC"

_NEWEST: Final = (
    "SELECT p.id FROM (SELECT id, last_seen FROM profiles "
    f"{_ORDER.replace('p.', '')} LIMIT %s) p WHERE EXISTS ("
    " SELECT 1 FROM identifiers i WHERE i.profile = p.id AND (i.value || '' ILIKE %s ESCAPE '\\'"
    " OR EXISTS (SELECT 1 FROM identifier_traits t WHERE t.identifier = i.id"
    f" AND {_TRAIT_TEXT} || '' ILIKE %s ESCAPE '\\'))) {_ORDER} LIMIT %s"
)
"""The matching profiles among the newest ``NEWEST_WALK``, each checked by its own rows."""


class PostgresSession:
    """A psycopg connection as the profile store's statements use it (a ``SqlSession``).

    ``execute`` is the connection's own; ``executemany`` goes through a cursor, where psycopg
    keeps it (in pipeline mode it sends every row without waiting).
    """

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self.connection = connection

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> psycopg.Cursor[Any]:
        return self.connection.execute(sql, parameters)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> None:
        rows = list(rows)
        if not rows:
            return
        with self.connection.cursor() as cursor:
            cursor.executemany(sql, rows)


def _identifier_key(identifier: Identifier) -> int:
    """A stable 32-bit signed hash of an identifier, the second half of its lock key."""
    return zlib.crc32(identifier.key.encode()) - 2**31


def _take_apply_lock(connection: psycopg.Connection[Any]) -> None:
    """Take the store's apply lock for the open transaction: one batch, clear, operator write
    or deletion at a time per schema, across every process."""
    connection.execute(
        "SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))", (APPLY_LOCK,)
    )


class PostgresProfileStore(SqlProfileStore):
    """:class:`~audience.resolution.profile_store.ProfileStore` on PostgreSQL, shared by many
    processes."""

    def __init__(
        self, url: str, *, link_email: bool | None = None, limits: Limits | None = None
    ) -> None:
        super().__init__(POSTGRES, link_email=link_email, limits=limits)
        self.url = url
        self._connections_lock = threading.Lock()
        self._idle: list[psycopg.Connection[Any]] = []
        self._open: list[psycopg.Connection[Any]] = []
        self._closed = False
        writer = connect(url)
        self._open.append(writer)
        self._writer = writer
        try:
            applied = migrate(writer, "profiles")
            if applied and applied[0] > 1 and REBUILDING_MIGRATIONS.intersection(applied):
                logger.warning(
                    "the profile store had an older layout or rules: its profiles are rebuilt "
                    "from the event log"
                )
            self._check_generation(PostgresSession(writer))
        except psycopg.Error as exc:
            self.close()
            raise StorageError(f"cannot open the profile store: {exc}") from exc
        except BaseException:
            self.close()
            raise

    @contextmanager
    def _reader(self) -> Iterator[SqlSession]:
        with self._connections_lock:
            if self._closed:
                raise StorageError("the profile store is closed")
            connection = self._idle.pop() if self._idle else None
        if connection is None:
            connection = connect(self.url)
            with self._connections_lock:
                self._open.append(connection)
        try:
            yield PostgresSession(connection)
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
        read = EventIdentities(
            self.link_email,
            {e.seq: identity_of(e.message, link_email=self.link_email) for e in ordered},
        )
        touched = {i for identity in read.by_seq.values() for i in identity.identifiers}
        keys = sorted({_identifier_key(identifier) for identifier in touched})
        with self._write_lock:
            connection = self._writer
            try:
                # In pipeline mode a statement whose result is never read (most writes) does
                # not wait for its round trip; a read waits for everything before it.
                with connection.pipeline(), connection.transaction():
                    _take_apply_lock(connection)
                    connection.execute(
                        "SELECT pg_advisory_xact_lock(%s, k) FROM unnest(%s::int[]) AS k "
                        "ORDER BY k",
                        (IDENTIFIER_LOCK, keys),
                    )
                    self._apply_batch(PostgresSession(connection), ordered, read)
            except BaseException as exc:
                self._node_ids.clear()
                if isinstance(exc, psycopg.Error):
                    raise StorageError(f"cannot apply events to the profile store: {exc}") from exc
                raise

    def _write(self, work: Callable[[SqlSession], None]) -> None:
        with self._write_lock:
            connection = self._writer
            try:
                with connection.pipeline(), connection.transaction():
                    _take_apply_lock(connection)
                    work(PostgresSession(connection))
            except BaseException as exc:
                self._node_ids.clear()
                if isinstance(exc, psycopg.Error):
                    raise StorageError(f"cannot write to the profile store: {exc}") from exc
                raise

    def clear(self, *, link_email: bool | None = None) -> None:
        """Forget every profile; ``link_email`` also records whether emails link from now on."""
        with self._write_lock:
            connection = self._writer
            db = PostgresSession(connection)
            try:
                with connection.transaction():
                    _take_apply_lock(connection)
                    self._clear_tables(db, link_email)
            except psycopg.Error as exc:
                raise StorageError(f"cannot clear the profile store: {exc}") from exc
            finally:
                self._node_ids.clear()
            self._check_generation(db)

    def delete_identifiers(self, identifiers: Sequence[Identifier]) -> PersonDeletion:
        """Delete under the apply lock (no batch runs meanwhile), then ``VACUUM`` the tables."""
        with self._write_lock:
            connection = self._writer
            db = PostgresSession(connection)
            try:
                with connection.transaction():
                    _take_apply_lock(connection)
                    deleted = deletion.delete_identifiers(db, POSTGRES, identifiers)
                for table in TABLES:
                    connection.execute(f"VACUUM {table}")
            except psycopg.Error as exc:
                raise StorageError(f"cannot delete from the profile store: {exc}") from exc
            finally:
                self._node_ids.clear()
            self._check_generation(db)
        return deleted

    def _matching(self, db: SqlSession, text: str, limit: int) -> list[int]:
        pattern = queries.contains(text)
        scan = "" if len(text) >= TRIGRAM else " || ''"
        matches = _MATCHES.replace("{scan}", scan)
        if not scan:
            found = db.execute(f"{matches} LIMIT %s", (pattern, pattern, CANDIDATES)).fetchall()
            if len(found) < CANDIDATES:  # a selective query: sort what it found
                rows = db.execute(
                    f"SELECT p.id FROM profiles p WHERE p.id = ANY(%s) {_ORDER} LIMIT %s",
                    ([int(row[0]) for row in found], limit),
                ).fetchall()
                return [int(row[0]) for row in rows]
        newest = db.execute(_NEWEST, (NEWEST_WALK, pattern, pattern, limit)).fetchall()
        if len(newest) >= limit:  # the newest matches: no older profile comes before them
            return [int(row[0]) for row in newest]
        rows = db.execute(
            f"SELECT p.id FROM profiles p WHERE p.id IN ({matches}) {_ORDER} LIMIT %s",
            (pattern, pattern, limit),
        ).fetchall()
        return [int(row[0]) for row in rows]

    def _empty_tables(self, db: SqlSession) -> None:
        db.execute("TRUNCATE " + ", ".join(TABLES) + " RESTART IDENTITY")
