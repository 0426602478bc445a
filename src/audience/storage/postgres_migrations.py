"""Versioned PostgreSQL migrations: numbered ``.sql`` files applied once, in order, per component.

Each component (``events``, ``profiles``, ``deliveries``) keeps its files in a folder of
``audience.storage.migrations`` named after it: ``0001_first.sql``, ``0002_next.sql`` ... A file
runs in one transaction together with the row that records it in ``schema_migrations``, so a
file is applied whole or not at all. Several processes may start at once: they take a
transaction-scoped advisory lock on (component, schema) first, so exactly one applies what is
missing and the others then find it recorded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

import psycopg

from audience.errors import StorageError

MIGRATION_LOCK: Final = 0x617564
"""First half of the advisory lock key that serialises migrations (the second is per schema)."""

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    """One numbered file of a component."""

    version: int
    name: str
    sql: str


def migrations(component: str) -> list[Migration]:
    """The migration files of ``component``, oldest first."""
    folder = resources.files("audience.storage.migrations").joinpath(component)
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in found]
    if len(set(versions)) != len(versions):
        raise StorageError(f"two {component} migrations share a number")
    return found


def migrate(connection: psycopg.Connection[Any], component: str) -> list[int]:
    """Apply the missing migrations of ``component``; returns the versions applied now.

    ``connection`` must be in autocommit mode; each file runs in a transaction of its own.
    """
    applied_now: list[int] = []
    try:
        with connection.transaction():
            connection.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))", (MIGRATION_LOCK,)
            )
            connection.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " component text NOT NULL, version integer NOT NULL, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now(),"
                " PRIMARY KEY (component, version))"
            )
            done = {
                int(row[0])
                for row in connection.execute(
                    "SELECT version FROM schema_migrations WHERE component = %s", (component,)
                )
            }
            for migration in migrations(component):
                if migration.version in done:
                    continue
                with connection.transaction():
                    connection.execute(migration.sql.encode())
                    connection.execute(
                        "INSERT INTO schema_migrations (component, version, name) "
                        "VALUES (%s, %s, %s)",
                        (component, migration.version, migration.name),
                    )
                applied_now.append(migration.version)
    except psycopg.Error as exc:
        raise StorageError(f"migrating the {component} schema failed: {exc}") from exc
    return applied_now


def applied(connection: psycopg.Connection[Any], component: str) -> list[int]:
    """The versions of ``component`` recorded as applied, oldest first."""
    rows = connection.execute(
        "SELECT version FROM schema_migrations WHERE component = %s ORDER BY version",
        (component,),
    ).fetchall()
    return [int(row[0]) for row in rows]
