"""Versioned PostgreSQL migrations: numbered ``.sql`` files applied once, in order, per component.

Each component (``events``, ``profiles``, ``deliveries``) keeps its files in
``audience/storage/migrations/<component>/postgres/`` (see
:mod:`audience.storage.migration_files`). A file runs in one transaction together with the row
that records it in ``schema_migrations``, so a file is applied whole or not at all. Several
processes may start at once: they take a transaction-scoped advisory lock on (component, schema)
first, so exactly one applies what is missing and the others then find it recorded. A schema
with a version newer than this code's last migration is refused, never changed.
"""

from __future__ import annotations

from typing import Any, Final

import psycopg

from audience.errors import StorageError
from audience.storage.migration_files import migrations

MIGRATION_LOCK: Final = 0x617564
"""First half of the advisory lock key that serialises migrations (the second is per schema)."""


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
            files = migrations(component, "postgres")
            latest = files[-1].version
            if done and max(done) > latest:
                raise StorageError(
                    f"the {component} schema is at version {max(done)}, newer than this "
                    f"audience's {latest}: it was written by a newer release; run that release "
                    "(or newer) on it"
                )
            for migration in files:
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
