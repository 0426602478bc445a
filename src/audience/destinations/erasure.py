"""Erasing a person from the destinations: their rows leave every warehouse, and every webhook
receives a deletion notice.

A warehouse (PostgreSQL or DuckDB) loses, in each schema it was loaded into (one per source, or
its fixed one), every row carrying one of the person's user or anonymous ids in ``tracks``, the
per-event tables, ``identifies``, ``pages``, ``screens``, ``groups`` and ``aliases`` (also by
``previous_id``), their ``users`` rows, and the ``discards`` of those rows; a warehouse keeping
people tables also loses the person's ``profiles`` rows and every ``identities`` row of those
profiles or naming one of the person's identifiers; PostgreSQL tables
are vacuumed after, and a DuckDB file is copied to a new one that replaces it (DuckDB keeps
deleted rows' bytes in its free blocks). A webhook receives one signed POST, as for any batch,
holding one message of type ``delete``::

    {"batch": [{"type": "delete", "messageId": "<regulation id>", "userId": "<a user id>",
                "anonymousId": "<an anonymous id>",
                "context": {"identifiers": {"userIds": [...], "anonymousIds": [...],
                                            "emails": [...]}},
                "timestamp": "...", "receivedAt": "..."}]}

A receiver should delete whatever it holds about every identifier listed and not reply with an
error once it has (a retry sends the same ``messageId``). Relays to another tracking API are left
alone: a tracking API offers no deletion to send.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from audience.clock import Clock
from audience.destinations.base import DestinationConfig
from audience.destinations.loaders import (
    COLUMNS_QUERY,
    DUCKDB,
    POSTGRES,
    SqlDialect,
    connect_duckdb,
    connect_postgres,
    quote,
)
from audience.destinations.people import IDENTITIES, PROFILES, identity_key
from audience.destinations.registry import open_destination, require_driver
from audience.destinations.warehouse import schema_name
from audience.eventlog import StoredEvent
from audience.identity.identifiers import Identifier
from audience.jsontypes import JSONObject

logger = logging.getLogger(__name__)

CHUNK: Final = 500
"""Values one statement names at most."""


@dataclass(frozen=True)
class Person:
    """Every identifier of one person, by type."""

    user_ids: tuple[str, ...] = ()
    anonymous_ids: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()


def erase(
    configs: Iterable[DestinationConfig],
    person: Person,
    *,
    sources: Sequence[str],
    notice_id: str,
    clock: Clock,
) -> dict[str, int]:
    """Erase ``person`` from every destination; rows deleted (or notices sent) per destination.

    Raises the destination's error when one cannot be reached (the caller tries again later).
    """
    done: dict[str, int] = {}
    for config in configs:
        if config.kind in ("postgres", "duckdb"):
            done[config.name] = _erase_rows(config, person, sources)
        elif config.kind == "webhook":
            done[config.name] = _notify(config, person, notice_id, clock)
    return done


def deletion_notice(person: Person, notice_id: str, at: str) -> JSONObject:
    """The message a webhook receives about a deleted person."""
    return {
        "type": "delete",
        "messageId": notice_id,
        "userId": person.user_ids[0] if person.user_ids else None,
        "anonymousId": person.anonymous_ids[0] if person.anonymous_ids else None,
        "context": {
            "identifiers": {
                "userIds": list(person.user_ids),
                "anonymousIds": list(person.anonymous_ids),
                "emails": list(person.emails),
            }
        },
        "timestamp": at,
        "receivedAt": at,
    }


def _notify(config: DestinationConfig, person: Person, notice_id: str, clock: Clock) -> int:
    at = clock.now().isoformat(timespec="milliseconds").replace("+00:00", "Z")
    notice = StoredEvent(seq=0, source="", message=deletion_notice(person, notice_id, at))
    destination = open_destination(config, clock)
    try:
        destination.deliver([notice], notice_id)
    finally:
        destination.close()
    return 1


def _erase_rows(config: DestinationConfig, person: Person, sources: Sequence[str]) -> int:
    require_driver(config)
    fixed = config.options.get("schema")
    schemas = sorted({schema_name(str(fixed))} if fixed else {schema_name(s) for s in sources})
    if config.kind == "postgres":
        connection = connect_postgres(str(config.options["url"]))
        try:
            deleted = sum(_erase_schema(connection, POSTGRES, schema, person) for schema in schemas)
            if config.keeps_people:
                deleted += _erase_people(connection, POSTGRES, config.people_schema, person)
            return deleted
        finally:
            connection.close()
    path = Path(str(config.options["path"]))
    if not path.exists():
        return 0
    connection = connect_duckdb(str(path))
    try:
        deleted = sum(_erase_schema(connection, DUCKDB, schema, person) for schema in schemas)
        if config.keeps_people:
            deleted += _erase_people(connection, DUCKDB, config.people_schema, person)
        if deleted:
            _copy_duckdb(connection, path)
            # Replaced while this connection still holds the file's lock: a loader that opens
            # the path next opens the copy, never the old file.
            os.replace(_fresh(path), path)
    finally:
        connection.close()
    return deleted


def _fresh(path: Path) -> Path:
    return path.with_name(path.name + ".erasing")


def _copy_duckdb(connection: Any, path: Path) -> None:
    """Copy the database into a new file, to replace the old one once it is closed: DuckDB keeps
    the bytes of deleted rows in its free blocks, which a copy leaves behind."""
    fresh = _fresh(path)
    for leftover in (fresh, fresh.with_name(fresh.name + ".wal")):
        leftover.unlink(missing_ok=True)
    (database,) = connection.execute("SELECT current_database()").fetchone()
    connection.execute(f"ATTACH '{fresh}' AS audience_erasing")
    try:
        connection.execute(f"COPY FROM DATABASE {quote(str(database))} TO audience_erasing")
    finally:
        connection.execute("DETACH audience_erasing")


def _erase_schema(connection: Any, dialect: SqlDialect, schema: str, person: Person) -> int:
    tables: dict[str, set[str]] = {}
    query = COLUMNS_QUERY.format(mark=dialect.placeholder)
    for table, column, _ in connection.execute(query, [schema]).fetchall():
        tables.setdefault(str(table), set()).add(str(column))
    ids = [*person.user_ids, *person.anonymous_ids]
    deleted_ids: list[str] = []
    deleted = 0
    for table, columns in sorted(tables.items()):
        name = f"{quote(schema)}.{quote(table)}"
        where = [
            (column, values)
            for column, values in (
                ("user_id", person.user_ids),
                ("anonymous_id", person.anonymous_ids),
                ("previous_id", ids),
            )
            if column in columns and values and table != "users"
        ]
        if table == "users" and "id" in columns:
            where = [("id", person.user_ids)] if person.user_ids else []
        for column, values in where:
            rows = _delete_in(connection, dialect, name, column, values)
            deleted += len(rows)
            deleted_ids.extend(rows)
    if "discards" in tables and deleted_ids:
        _delete_in(connection, dialect, f"{quote(schema)}.discards", "id", deleted_ids)
    if dialect is POSTGRES:
        for table in tables:
            connection.execute(f"VACUUM {quote(schema)}.{quote(table)}")
    return deleted


def _erase_people(connection: Any, dialect: SqlDialect, schema: str, person: Person) -> int:
    """Delete the person's people rows: the profiles holding one of their identifiers, with
    every identifier of those profiles."""
    query = COLUMNS_QUERY.format(mark=dialect.placeholder)
    tables = {str(row[0]) for row in connection.execute(query, [schema]).fetchall()}
    if IDENTITIES not in tables:
        return 0
    identities = f"{quote(schema)}.{quote(IDENTITIES)}"
    keys = [
        *(identity_key(Identifier("user_id", value)) for value in person.user_ids),
        *(identity_key(Identifier("anonymous_id", value)) for value in person.anonymous_ids),
        *(identity_key(Identifier("email", value)) for value in person.emails),
    ]
    profile_ids: set[str] = set()
    for chunk in _chunks(keys):
        marks = ", ".join([dialect.placeholder] * len(chunk))
        rows = connection.execute(
            f"SELECT DISTINCT profile_id FROM {identities} WHERE id IN ({marks})", chunk
        ).fetchall()
        profile_ids.update(str(row[0]) for row in rows)
    held = sorted(profile_ids)
    deleted = len(_delete_in(connection, dialect, identities, "id", keys))
    deleted += len(_delete_in(connection, dialect, identities, "profile_id", held))
    if PROFILES in tables:
        profiles = f"{quote(schema)}.{quote(PROFILES)}"
        deleted += len(_delete_in(connection, dialect, profiles, "id", held))
    if dialect is POSTGRES:
        for table in tables:
            connection.execute(f"VACUUM {quote(schema)}.{quote(table)}")
    return deleted


def _delete_in(
    connection: Any, dialect: SqlDialect, target: str, column: str, values: Sequence[str]
) -> list[str]:
    """Delete the rows of ``target`` whose ``column`` is one of ``values``; their ids."""
    deleted: list[str] = []
    for chunk in _chunks(values):
        marks = ", ".join([dialect.placeholder] * len(chunk))
        rows = connection.execute(
            f"DELETE FROM {target} WHERE {quote(column)} IN ({marks}) RETURNING id", chunk
        ).fetchall()
        deleted.extend(str(row[0]) for row in rows)
    return deleted


def _chunks(values: Sequence[str]) -> list[list[str]]:
    return [list(values[start : start + CHUNK]) for start in range(0, len(values), CHUNK)]
