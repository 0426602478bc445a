"""Versioned SQLite migrations: each store's numbered ``.sql`` files applied once, in order.

A file's version is kept in the database header (``PRAGMA user_version``). Every file newer
than that runs in one transaction (``BEGIN IMMEDIATE``) together with the new version, so a file
is applied whole or not at all. Several processes may open a file at once: each re-reads the
version after taking the write lock, so exactly one applies a file and the others find it done.
A file of a newer version than this code's last migration is refused, never changed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

from audience.errors import StorageError
from audience.storage.migration_files import Migration, migrations


def schema_version(connection: sqlite3.Connection) -> int:
    """The version of the last migration applied to the database."""
    return int(connection.execute("PRAGMA user_version").fetchone()[0])


def migrate(connection: sqlite3.Connection, component: str, path: Path) -> list[int]:
    """Apply the missing migrations of ``component`` to the database at ``path``.

    ``connection`` must be in autocommit mode (``isolation_level=None``). Returns the versions
    applied now; raises ``StorageError`` for a database newer than the code or a failed file.
    """
    return apply_migrations(connection, migrations(component, "sqlite"), f"{component} {path}")


def apply_migrations(
    connection: sqlite3.Connection, files: Sequence[Migration], label: str
) -> list[int]:
    """Apply ``files`` newer than the database's version, one transaction each.

    ``label`` names the database in errors (``"events /data/events.sqlite3"``).
    """
    latest = files[-1].version if files else 0
    applied: list[int] = []
    try:
        for migration in files:
            # The version is read under the write lock: another process may have applied it.
            connection.execute("BEGIN IMMEDIATE")
            try:
                version = _checked(schema_version(connection), latest, label)
                if version < migration.version:
                    for statement in statements(migration.sql):
                        connection.execute(statement)
                    connection.execute(f"PRAGMA user_version = {migration.version:d}")
                    applied.append(migration.version)
                connection.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StorageError(f"migration {migration.name} of {label} failed: {exc}") from exc
            finally:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
            if version >= latest:
                break
    except sqlite3.Error as exc:
        raise StorageError(f"cannot bring {label} up to date: {exc}") from exc
    return applied


def _checked(version: int, latest: int, label: str) -> int:
    if version > latest:
        raise StorageError(
            f"{label} is at schema version {version}, newer than this audience's {latest}: "
            "it was written by a newer release; run that release (or newer) on it"
        )
    return version


def statements(sql: str) -> Iterator[str]:
    """The statements of a migration file, one at a time (``sqlite3`` runs one per call)."""
    pending = ""
    for line in sql.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending.strip()
            pending = ""
    rest = "\n".join(
        line for line in pending.splitlines() if line.strip() and not line.strip().startswith("--")
    )
    if rest:
        raise StorageError(f"a migration ends with an unfinished statement: {rest[:80]!r}")
