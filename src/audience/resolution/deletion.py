"""Deleting a person from the profile store: their identifiers and everything that names them.

A person is the profile an identifier belongs to, with every identifier of that profile (all the
anonymous ids of every device, the user ids, the emails). :func:`person_identifiers` finds them;
:func:`delete_identifiers` removes them with their traits, groups, edges, merge-log entries, event
links and the warnings of their events, inside the caller's transaction. It also bumps the
store's generation, so every resolver forgets the row ids it remembered for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from audience.identity.identifiers import Identifier
from audience.resolution import queries
from audience.storage.dialect import SqlDialect, SqlSession

CHUNK: Final = 500
"""Row ids one statement names at most."""


@dataclass(frozen=True)
class PersonDeletion:
    """What a deletion removed: how many identifiers, and the positions of the events that were
    linked to them (for the event store and the destinations to delete too)."""

    identifiers: int
    seqs: tuple[int, ...]


def person_identifiers(
    db: SqlSession, dialect: SqlDialect, identifier: Identifier
) -> list[Identifier]:
    """Every identifier of the profile holding ``identifier``; just ``identifier`` when no
    profile holds it."""
    internal = queries.holder(db, dialect, identifier)
    if internal is None:
        return [identifier]
    found = profile_identifiers(db, dialect, internal)
    return sorted({identifier, *found})


def profile_identifiers(db: SqlSession, dialect: SqlDialect, internal: int) -> list[Identifier]:
    """Every identifier of the profile at row ``internal``."""
    rows = db.execute(
        f"SELECT type, value FROM identifiers WHERE profile = {dialect.mark} ORDER BY type, value",
        (internal,),
    ).fetchall()
    return [Identifier(kind, value) for kind, value in rows]


def delete_identifiers(
    db: SqlSession, dialect: SqlDialect, identifiers: Sequence[Identifier]
) -> PersonDeletion:
    """Delete ``identifiers`` and what names them, inside the caller's transaction."""
    nodes: list[int] = []
    profiles: set[int] = set()
    units: set[int] = set()
    for chunk in _chunks(sorted({i.key for i in identifiers})):
        for node, profile, unit in db.execute(
            f"SELECT id, profile, unit FROM identifiers WHERE key IN ({dialect.marks(len(chunk))})",
            chunk,
        ).fetchall():
            nodes.append(int(node))
            profiles.add(int(profile))
            if unit is not None:
                units.add(int(unit))
    seqs: list[int] = []
    for chunk in _chunks(sorted(nodes)):
        marks = dialect.marks(len(chunk))
        seqs.extend(
            int(row[0])
            for row in db.execute(
                f"SELECT seq FROM event_links WHERE identifier IN ({marks})", chunk
            ).fetchall()
        )
        for statement in (
            f"DELETE FROM event_links WHERE identifier IN ({marks})",
            f"DELETE FROM identifier_traits WHERE identifier IN ({marks})",
            f"DELETE FROM identifier_groups WHERE identifier IN ({marks})",
            f"DELETE FROM identifiers WHERE id IN ({marks})",
        ):
            db.execute(statement, chunk)
        db.execute(f"DELETE FROM links WHERE a IN ({marks}) OR b IN ({marks})", [*chunk, *chunk])
        db.execute(f"DELETE FROM edges WHERE a IN ({marks}) OR b IN ({marks})", [*chunk, *chunk])
    for chunk in _chunks(sorted(seqs)):
        db.execute(f"DELETE FROM warnings WHERE seq IN ({dialect.marks(len(chunk))})", chunk)
    # A profile or a unit goes once none of its identifiers is left (another person's stay).
    for chunk in _chunks(sorted(profiles)):
        db.execute(
            f"DELETE FROM profiles WHERE id IN ({dialect.marks(len(chunk))}) AND NOT EXISTS "
            "(SELECT 1 FROM identifiers WHERE identifiers.profile = profiles.id)",
            chunk,
        )
    for chunk in _chunks(sorted(units)):
        db.execute(
            f"DELETE FROM units WHERE id IN ({dialect.marks(len(chunk))}) AND NOT EXISTS "
            "(SELECT 1 FROM identifiers WHERE identifiers.unit = units.id)",
            chunk,
        )
    if nodes:
        db.execute("UPDATE state SET value = value + 1 WHERE name = 'generation'")
    return PersonDeletion(len(nodes), tuple(sorted(seqs)))


def _chunks(values: Sequence[Any]) -> list[list[Any]]:
    return [list(values[start : start + CHUNK]) for start in range(0, len(values), CHUNK)]
