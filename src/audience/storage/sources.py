"""The source registry: sources with write keys, and the settings kept beside them.

Both event stores keep the same ``sources`` and ``meta`` tables and run the same statements
on them; :class:`SqlSourceRegistry` holds those statements once, spelled with the store's
:class:`~audience.storage.dialect.SqlDialect`.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, ClassVar

from audience.clock import Clock
from audience.errors import StorageError, ValidationError
from audience.storage.base import Source
from audience.storage.dialect import SqlDialect
from audience.tracking import format_timestamp

WRITE_KEY_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-:.")
"""Characters a write key may use: those the browser snippet's script URL pattern accepts."""


def new_write_key() -> str:
    """A random write key (32 URL-safe characters)."""
    return secrets.token_urlsafe(24)


def check_write_key(write_key: str) -> str:
    """Return ``write_key`` if it can travel in a URL path and a Basic header, else raise."""
    if not 1 <= len(write_key) <= 200 or not set(write_key) <= WRITE_KEY_ALPHABET:
        raise ValidationError("writeKey", "must be 1 to 200 letters, digits or any of _ - : .")
    return write_key


class SqlSourceRegistry:
    """``SourceRegistry`` and the ``meta`` settings on a store's own connections.

    A store mixes this in and supplies ``_dialect``, ``_clock``, ``_reader`` (a pooled
    connection) and ``_query`` (rows of one statement, driver errors as ``StorageError``).
    """

    _dialect: ClassVar[SqlDialect]
    _clock: Clock

    def _reader(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _query(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    def _execute(self, sql: str, parameters: Sequence[Any]) -> None:
        with self._reader() as connection:
            connection.execute(sql, parameters)

    def create_source(self, name: str, write_key: str | None = None) -> Source:
        """Add a source named ``name``; raises ``ValidationError`` if the name or key is taken."""
        name = name.strip()
        if not name or len(name) > 100:
            raise ValidationError("name", "must be 1 to 100 characters")
        key = check_write_key(write_key) if write_key is not None else new_write_key()
        created_at = format_timestamp(self._clock.now())
        mark = self._dialect.mark
        try:
            self._execute(
                "INSERT INTO sources (name, write_key, created_at) "
                f"VALUES ({mark}, {mark}, {mark})",
                (name, key, created_at),
            )
        except self._dialect.duplicate as exc:
            taken = "name" if self.source_by_name(name) is not None else "writeKey"
            raise ValidationError(taken, "is already used by another source") from exc
        except self._dialect.failure as exc:
            raise StorageError(f"creating source {name!r} failed: {exc}") from exc
        return Source(name, key, created_at)

    def list_sources(self) -> list[Source]:
        """Every source, oldest first."""
        rows = self._query(
            "SELECT name, write_key, created_at FROM sources "
            f"ORDER BY {self._dialect.insertion_order}"
        )
        return [Source(*row) for row in rows]

    def source_by_key(self, write_key: str) -> Source | None:
        """The source holding ``write_key``, if any."""
        return self._source_where("write_key", write_key)

    def source_by_name(self, name: str) -> Source | None:
        """The source called ``name``, if any."""
        return self._source_where("name", name)

    def _source_where(self, column: str, value: str) -> Source | None:
        rows = self._query(
            "SELECT name, write_key, created_at FROM sources "
            f"WHERE {column} = {self._dialect.mark}",
            (value,),
        )
        return Source(*rows[0]) if rows else None

    # -- settings kept with the data ---------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        """A value kept in the store's ``meta`` table (such as the generated admin token)."""
        rows = self._query(f"SELECT value FROM meta WHERE key = {self._dialect.mark}", (key,))
        return str(rows[0][0]) if rows else None

    def replace_meta(self, key: str, value: str) -> None:
        """Keep ``value`` under ``key``, replacing what was kept (a rotated admin token)."""
        mark = self._dialect.mark
        try:
            self._execute(
                f"INSERT INTO meta (key, value) VALUES ({mark}, {mark}) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
        except self._dialect.failure as exc:
            raise StorageError(f"writing {key!r} failed: {exc}") from exc

    def set_meta_once(self, key: str, value: str) -> str:
        """Keep ``value`` under ``key`` unless one is already kept; return the kept value."""
        mark = self._dialect.mark
        try:
            self._execute(
                f"INSERT INTO meta (key, value) VALUES ({mark}, {mark}) ON CONFLICT DO NOTHING",
                (key, value),
            )
        except self._dialect.failure as exc:
            raise StorageError(f"writing {key!r} failed: {exc}") from exc
        kept = self.get_meta(key)
        if kept is None:
            raise StorageError(f"{key!r} was not kept")
        return kept
