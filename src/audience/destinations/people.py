"""People in the warehouse: the profiles and the identity graph as two tables analysts join.

A warehouse destination added with ``--people`` keeps, beside the event tables, a schema
(``people`` unless ``people_schema`` names another) with:

- ``profiles``: one row per profile (``id``, ``first_seen``, ``last_seen``, ``event_count``,
  ``identifier_count``, ``uuid_ts``) and its traits as columns;
- ``identities``: one row per identifier (``id`` is ``type:value``) with the ``profile_id`` that
  holds it now, its ``type`` and ``value``, and ``linked_at``, ``linked_by`` and ``message_id``:
  the first link that joined it to another identifier of the profile (empty for an identifier
  the profile holds alone).

Events are attributed through ``identities``, the way resolution attributes them (the user id,
else the anonymous id), rather than through a ``profile_id`` column on every event row: a merge
then rewrites the rows of the merged profile's identifiers, not every event either side ever
sent, and the event tables stay append-only.

The tables follow the profile store, not the events: each batch the destination loads names
identifiers, and every profile holding one of them, or holding one before, is written again as
the profile store has it then. The destination only loads events the resolver has applied, so a
link or an alias's merge reaches the warehouse with the batch that holds its event.

An operator's merge or split has no event in the log: the tables follow the profile store's
operator actions instead. ``sync_state`` keeps how many of them the tables reflect (the row
``operator_actions``); the identifiers of the newer ones join the next batch's, or, when no event
comes, are written on their own once the profiles have caught up with the destination (a split
rebuilds them from the log). A profile written again also writes again every profile that holds
an identifier it held before, so the people a split leaves behind get rows of their own. A
privacy deletion removes the person's rows itself (:mod:`audience.destinations.erasure`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Protocol

from audience.destinations.flatten import ColumnType, flatten
from audience.destinations.warehouse import LoadPlan, Row, plan_rows
from audience.eventlog import StoredEvent
from audience.identity.graph import OperatorAction, identity_of
from audience.identity.identifiers import IDENTIFIER_TYPES, Identifier
from audience.identity.profiles import MergeRecord, Profile
from audience.jsontypes import JSON

PEOPLE_SCHEMA: Final = "people"
PROFILES: Final = "profiles"
IDENTITIES: Final = "identities"
SYNC_STATE: Final = "sync_state"
OPERATOR_ACTIONS: Final = "operator_actions"
"""The ``sync_state`` row counting the operator actions the tables reflect."""

PEOPLE_COLUMNS: Final[Mapping[str, Mapping[str, ColumnType]]] = {
    PROFILES: {
        "id": ColumnType.STRING,
        "first_seen": ColumnType.TIMESTAMP,
        "last_seen": ColumnType.TIMESTAMP,
        "event_count": ColumnType.INTEGER,
        "identifier_count": ColumnType.INTEGER,
        "uuid_ts": ColumnType.TIMESTAMP,
    },
    IDENTITIES: {
        "id": ColumnType.STRING,
        "profile_id": ColumnType.STRING,
        "type": ColumnType.STRING,
        "value": ColumnType.STRING,
        "linked_at": ColumnType.TIMESTAMP,
        "linked_by": ColumnType.STRING,
        "message_id": ColumnType.STRING,
        "uuid_ts": ColumnType.TIMESTAMP,
    },
    SYNC_STATE: {
        "id": ColumnType.STRING,
        "value": ColumnType.INTEGER,
        "uuid_ts": ColumnType.TIMESTAMP,
    },
}
"""The columns each people table is created with; ``profiles`` gains one per trait."""


class ProfileReader(Protocol):
    """What the people tables read from the profile store (a ``ProfileStore`` is one)."""

    def cursor(self) -> int:
        """The ``seq`` of the last event the profiles reflect."""
        ...

    def lookup(self, identifier: Identifier) -> Profile | None:
        """The profile holding ``identifier``."""
        ...

    def get(self, profile_id: str) -> Profile | None:
        """A profile by id; an id it had before a merge finds it too."""
        ...

    def identifiers(self, profile_id: str) -> list[Identifier]:
        """Every identifier of the profile."""
        ...

    def merges(self, profile_id: str) -> list[MergeRecord]:
        """The links that touch the profile, in time order."""
        ...

    def actions(self) -> list[OperatorAction]:
        """Every operator action recorded, in order."""
        ...

    def close(self) -> None:
        """Release its connections."""
        ...


@dataclass(frozen=True)
class Person:
    """A profile as the people tables show it: the profile, all its identifiers and its links."""

    profile: Profile
    identifiers: tuple[Identifier, ...]
    links: tuple[MergeRecord, ...]


def read_person(reader: ProfileReader, profile: Profile) -> Person:
    """The whole person behind ``profile``."""
    return Person(profile, tuple(reader.identifiers(profile.id)), tuple(reader.merges(profile.id)))


def identity_key(identifier: Identifier) -> str:
    """The ``id`` of an identifier's row in ``identities``."""
    return f"{identifier.type}:{identifier.value}"


def named_identifiers(events: Iterable[StoredEvent]) -> set[Identifier]:
    """Every identifier the events name, the sides of their links included."""
    named: set[Identifier] = set()
    for event in events:
        identity = identity_of(event.message)
        named.update(identity.identifiers)
        for link in identity.links:
            named.update((link.a, link.b))
    return named


def action_identifiers(actions: Iterable[OperatorAction]) -> set[Identifier]:
    """Every identifier the operator actions name."""
    named: set[Identifier] = set()
    for action in actions:
        named.add(action.a)
        if action.b is not None:
            named.add(action.b)
    return named


def identifier_of_key(key: str) -> Identifier | None:
    """The identifier of an ``identities`` row's ``id`` (``None`` for one that is not)."""
    kind, _, value = key.partition(":")
    for known in IDENTIFIER_TYPES:
        if kind == known:
            return Identifier(known, value)
    return None


def person_rows(person: Person, loaded_at: datetime) -> list[Row]:
    """The ``profiles`` row and the ``identities`` rows of one person."""
    profile = person.profile
    fixed: dict[str, JSON] = {
        "id": profile.id,
        "first_seen": profile.first_seen,
        "last_seen": profile.last_seen,
        "event_count": profile.event_count,
        "identifier_count": len(person.identifiers),
    }
    traits = flatten(profile.traits, taken=PEOPLE_COLUMNS[PROFILES])
    rows = [Row(PROFILES, {**fixed, "uuid_ts": loaded_at, **traits})]
    first_link: dict[Identifier, MergeRecord] = {}
    for record in person.links:
        if record.status == "joined":
            first_link.setdefault(record.a, record)
            first_link.setdefault(record.b, record)
    for identifier in person.identifiers:
        link = first_link.get(identifier)
        rows.append(
            Row(
                IDENTITIES,
                {
                    "id": identity_key(identifier),
                    "profile_id": profile.id,
                    "type": identifier.type,
                    "value": identifier.value,
                    "linked_at": link.timestamp if link else None,
                    "linked_by": link.kind if link else None,
                    "message_id": link.message_id if link else None,
                    "uuid_ts": loaded_at,
                },
            )
        )
    return rows


def plan_people(
    schema: str,
    people: Sequence[Person],
    existing: Mapping[str, Mapping[str, ColumnType]],
    loaded_at: datetime,
    followed_actions: int | None = None,
) -> LoadPlan:
    """The plan that writes ``people`` into ``schema`` (after their old rows are deleted), and
    with ``followed_actions`` the ``sync_state`` row counting the operator actions followed."""
    rows_by_table: dict[str, list[Row]] = {PROFILES: [], IDENTITIES: []}
    for person in people:
        for row in person_rows(person, loaded_at):
            rows_by_table[row.table].append(row)
    if followed_actions is not None:
        state = {"id": OPERATOR_ACTIONS, "value": followed_actions, "uuid_ts": loaded_at}
        rows_by_table[SYNC_STATE] = [Row(SYNC_STATE, state)]
    return plan_rows(schema, rows_by_table, existing, PEOPLE_COLUMNS)
