"""Admin login sessions kept in the event store, so every collector process sees the same ones.

A session is a row keyed by the SHA-256 of its session id: the id itself lives only in the
admin's cookie, so someone who reads the database (or a backup of it) cannot log in with what
they find. Both event stores keep the ``admin_sessions`` table (SQLite in its schema,
PostgreSQL in the ``events`` migrations) and run the statements of :class:`SqlAdminSessions`.
Times are seconds since the epoch (wall time, shared by every process and host).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from audience.errors import StorageError
from audience.storage.dialect import SqlDialect


@dataclass(frozen=True)
class AdminSession:
    """One login: the hash of its id, when it began and when it was last used."""

    id_hash: str
    created_at: float
    last_seen_at: float


class AdminSessionStore(Protocol):
    """Where admin sessions are kept."""

    def add_admin_session(self, session: AdminSession) -> None:
        """Keep a new session."""
        ...

    def admin_session(self, id_hash: str) -> AdminSession | None:
        """The session whose id hashes to ``id_hash``, if it is kept."""
        ...

    def touch_admin_session(self, id_hash: str, seen_at: float) -> None:
        """Note that the session was used at ``seen_at``."""
        ...

    def end_admin_session(self, id_hash: str) -> None:
        """Forget one session (logout); nothing happens when it is not kept."""
        ...

    def end_all_admin_sessions(self) -> int:
        """Forget every session (a new admin token); returns how many there were."""
        ...

    def purge_admin_sessions(self, idle_before: float, created_before: float) -> int:
        """Forget sessions last used before ``idle_before`` or begun before ``created_before``."""
        ...


class SqlAdminSessions:
    """``AdminSessionStore`` on a store's own connections (mixed into the event stores).

    The store supplies ``_dialect``, ``_reader`` (a pooled autocommit connection) and
    ``_query`` (rows of one statement, driver errors as ``StorageError``).
    """

    _dialect: ClassVar[SqlDialect]

    def _reader(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _query(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    def _change(self, sql: str, parameters: Sequence[Any] = ()) -> int:
        try:
            with self._reader() as connection:
                return max(0, int(connection.execute(sql, parameters).rowcount))
        except self._dialect.failure as exc:
            raise StorageError(f"writing the admin sessions failed: {exc}") from exc

    def add_admin_session(self, session: AdminSession) -> None:
        """Keep a new session."""
        mark = self._dialect.mark
        self._change(
            "INSERT INTO admin_sessions (id_hash, created_at, last_seen_at) "
            f"VALUES ({mark}, {mark}, {mark})",
            (session.id_hash, session.created_at, session.last_seen_at),
        )

    def admin_session(self, id_hash: str) -> AdminSession | None:
        """The session whose id hashes to ``id_hash``, if it is kept."""
        rows = self._query(
            "SELECT id_hash, created_at, last_seen_at FROM admin_sessions "
            f"WHERE id_hash = {self._dialect.mark}",
            (id_hash,),
        )
        if not rows:
            return None
        found, created_at, last_seen_at = rows[0]
        return AdminSession(str(found), float(created_at), float(last_seen_at))

    def touch_admin_session(self, id_hash: str, seen_at: float) -> None:
        """Note that the session was used at ``seen_at`` (never moving it back)."""
        mark = self._dialect.mark
        self._change(
            f"UPDATE admin_sessions SET last_seen_at = {mark} "
            f"WHERE id_hash = {mark} AND last_seen_at < {mark}",
            (seen_at, id_hash, seen_at),
        )

    def end_admin_session(self, id_hash: str) -> None:
        """Forget one session; nothing happens when it is not kept."""
        self._change(f"DELETE FROM admin_sessions WHERE id_hash = {self._dialect.mark}", (id_hash,))

    def end_all_admin_sessions(self) -> int:
        """Forget every session; returns how many there were."""
        return self._change("DELETE FROM admin_sessions")

    def purge_admin_sessions(self, idle_before: float, created_before: float) -> int:
        """Forget sessions last used before ``idle_before`` or begun before ``created_before``."""
        mark = self._dialect.mark
        return self._change(
            f"DELETE FROM admin_sessions WHERE last_seen_at < {mark} OR created_at < {mark}",
            (idle_before, created_before),
        )
