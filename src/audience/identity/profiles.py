"""Profiles: one person's identifiers, traits, groups and activity, folded from their events.

Each event counts for exactly one identifier (the one that linked it). What an identifier has seen
(its traits with the order key that set each one, its groups, its first and last event and its
count) combines with the other identifiers of the same profile by rules that ignore arrival order:
the trait value with the latest order key wins, first seen is the minimum, last seen the maximum,
counts add up. A trait set to ``null`` by the latest event is removed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final, Literal, TypeAlias

from audience.identity.identifiers import Identifier
from audience.jsontypes import JSON, JSONObject


@dataclass(frozen=True)
class TraitValue:
    """A trait as one event set it; ``order_key`` decides which event wrote last."""

    name: str
    value: JSON
    order_key: str


def fold_traits(values: Iterable[TraitValue]) -> JSONObject:
    """The traits in force: for each name the value with the latest order key; ``null`` removes."""
    latest: dict[str, TraitValue] = {}
    for item in values:
        current = latest.get(item.name)
        if current is None or (item.order_key, _canonical(item.value)) > (
            current.order_key,
            _canonical(current.value),
        ):
            latest[item.name] = item
    return {name: item.value for name, item in sorted(latest.items()) if item.value is not None}


def _canonical(value: JSON) -> str:
    """A total order among values written by the same event (only on exact order-key ties)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def best_identifier(identifiers: Iterable[Identifier]) -> Identifier:
    """The identifier a profile is named after: the smallest user id, else email, else anonymous."""
    return min(identifiers, key=lambda identifier: identifier.rank)


@dataclass(frozen=True)
class GroupMembership:
    """A group (account) the person was placed in, with the group's own traits."""

    group_id: str
    traits: JSONObject = field(default_factory=dict)


@dataclass(frozen=True)
class Profile:
    """One person as resolution sees them.

    ``id`` is the key of the best identifier, so it is stable while the profile keeps that
    identifier. ``identifiers`` lists at most the first ``identifier_count`` names (best first).
    """

    id: str
    identifiers: tuple[Identifier, ...]
    identifier_count: int
    traits: JSONObject
    groups: tuple[GroupMembership, ...]
    first_seen: str | None
    last_seen: str | None
    event_count: int


@dataclass(frozen=True)
class LinkedEvent:
    """A stored event attributed to a profile, and the identifier that linked it.

    ``order_key`` is the event's place in the profile's time order (with ``seq``), where a page
    of the profile's events starts or ends.
    """

    seq: int
    identifier: Identifier
    timestamp: str
    order_key: str = ""


RefusalCause: TypeAlias = Literal[
    "different_people", "shared_identifier", "large_unit", "over_limit"
]
"""Why a link did not join: merge protection, a shared identifier, or a unit over its cap."""


OPERATOR: Final = ("merge", "split")
"""The kinds of merge-log entries an operator recorded (with who and why)."""


@dataclass(frozen=True)
class MergeRecord:
    """A link between two identifiers and what came of it: ``joined`` or ``refused``; or an
    operator's split (``kind`` and ``status`` ``split``, ``a`` and ``b`` the identifier split off).

    ``cause`` says why a refused link did not join; ``actor`` and ``note`` who recorded an
    operator's merge or split, and why.
    """

    a: Identifier
    b: Identifier
    kind: str
    status: str
    timestamp: str
    message_id: str
    seq: int
    cause: RefusalCause = "different_people"
    actor: str = ""
    note: str = ""

    @property
    def reason(self) -> str:
        """Why the profiles were joined, or why they were kept apart, in one sentence."""
        named = f"{self.a.type} {self.a.value!r} to {self.b.type} {self.b.value!r}"
        by = f" by {self.actor or 'an operator'}: {self.note}" if self.kind in OPERATOR else ""
        if self.kind == "split":
            return f"split {self.a.type} {self.a.value!r} off its profile{by}"
        if self.status != "refused":
            return f"{self.kind} linked {named}{by}"
        if self.cause == "shared_identifier":
            return (
                f"{self.kind} linking {named} refused: a shared identifier (linked to too many "
                "user ids) links nobody"
            )
        if self.cause == "over_limit":
            return (
                f"{self.kind} linking {named} refused: the user id claimed as many of these as "
                "its weekly limit allows, earlier in that week"
            )
        if self.cause == "large_unit":
            return (
                f"{self.kind} linking {named} refused: too many identifiers are joined by email "
                "links here, so email links do not join"
            )
        return f"{self.kind} linking {named} refused: both profiles already hold different user ids"


@dataclass(frozen=True)
class IdentityWarning:
    """Something resolution refused or could not use, kept so that it is visible."""

    kind: str
    seq: int
    message_id: str
    detail: str
