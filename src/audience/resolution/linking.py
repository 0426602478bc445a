"""Applying links to the stored identity graph, one unit at a time, inside a batch's transaction.

:class:`Linker` keeps the tables of :mod:`audience.resolution.schema` equal to what
:func:`~audience.resolution.graph.resolve_components` gives for every link applied so far. What a
link costs, cheapest first:

* a repeat of a pair already linked, no earlier than the pair's first link: nothing to decide
  (the pair's first link decided for all of them);
* an alias joining two people: their profiles join, the smaller moving into the larger;
* a link in a unit claimed by one person only, where no refusal is possible: the two profiles
  join (plain connected components);
* a link in a unit over its cap: only the anonymous id or email it names is decided again, from
  its own claims (at most ``shared_after`` of them);
* a new shared identifier: it leaves its profile;
* otherwise (a contested unit, at most ``unit_links`` links): the unit is marked and recomputed
  once, by :meth:`Linker.settle` at the end of the batch, however many of its links the batch held.

A unit only grows; when it passes its cap its members are decided alone once, and never again as a
unit. So no event recomputes more than ``unit_links`` links.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Final

from audience.errors import StorageError
from audience.resolution import queries
from audience.resolution.graph import Limits, Link, edge_kind, join_in_order, link_order
from audience.resolution.identifiers import Identifier
from audience.resolution.profiles import best_identifier

LARGE_PROFILE: Final = 1000
"""Identifiers from which a profile is reported as too large (again at every power of ten)."""

Warning = tuple[int, str, str, str]
"""A warnings row: ``(seq, kind, message_id, detail)``."""


@dataclass
class _Side:
    """An identifier as a link finds it."""

    id: int
    type: str
    value: str
    profile: int
    unit: int | None
    shared: bool
    user_links: int


@dataclass
class _Unit:
    """A unit's counters: distinct links, members, the person claiming it while uncontested."""

    id: int
    links: int
    members: int
    person: int | None
    person_profile: int | None
    contested: bool
    split: bool


@dataclass(frozen=True)
class _Member:
    """A unit member (never a shared one) and the profile it is in when its unit is decided."""

    id: int
    identifier: Identifier
    profile: int
    personal: bool
    profile_size: int
    last_seen: str | None


@dataclass(frozen=True)
class _Person:
    """A person as one node of a unit's graph: the profile that holds their user ids."""

    profile: int


@dataclass(frozen=True)
class _Alone:
    """A place of its own: a profile without a user id, named by one member."""

    root: int


_MEMBERS: Final = (
    "SELECT i.id, i.type, i.value, i.profile, p.anchor_type, p.size, i.last_seen "
    "FROM identifiers i JOIN profiles p ON p.id = i.profile "
)


class Linker:
    """Applies the links of one batch; ``warnings`` collects the rows to write with the batch."""

    def __init__(self, db: sqlite3.Connection, limits: Limits, warnings: list[Warning]) -> None:
        self.db = db
        self.limits = limits
        self.warnings = warnings
        self._marked: dict[int, tuple[int, str]] = {}
        self._event = (0, "")

    # -- identifiers ----------------------------------------------------------------------

    def create(self, identifier: Identifier) -> int:
        """A new identifier row, a profile of its own, and (unless a user id) a unit of its own."""
        db = self.db
        profile = db.execute(
            "INSERT INTO profiles (public_id, anchor_type, anchor_value, size) VALUES (?, ?, ?, 1)",
            (identifier.key, identifier.type, identifier.value),
        ).lastrowid
        unit = None
        if identifier.type != "user_id":
            unit = db.execute("INSERT INTO units (links, members) VALUES (0, 1)").lastrowid
        node = db.execute(
            "INSERT INTO identifiers (type, value, key, profile, unit) VALUES (?, ?, ?, ?, ?)",
            (identifier.type, identifier.value, identifier.key, profile, unit),
        ).lastrowid
        if node is None:
            raise StorageError("the profile database did not return a row id")
        return node

    def _side(self, node: int) -> _Side:
        id_, type_, value, profile, unit, shared, user_links = self.db.execute(
            "SELECT id, type, value, profile, unit, shared, user_links FROM identifiers "
            "WHERE id = ?",
            (node,),
        ).fetchone()
        return _Side(id_, type_, value, profile, unit, bool(shared), user_links)

    def _profile_of(self, node: int) -> int:
        return int(
            self.db.execute("SELECT profile FROM identifiers WHERE id = ?", (node,)).fetchone()[0]
        )

    def _unit(self, unit: int) -> _Unit:
        id_, links, members, person, person_profile, contested, split = self.db.execute(
            "SELECT u.id, u.links, u.members, u.person, p.profile, u.contested, u.split "
            "FROM units u LEFT JOIN identifiers p ON p.id = u.person WHERE u.id = ?",
            (unit,),
        ).fetchone()
        return _Unit(id_, links, members, person, person_profile, bool(contested), bool(split))

    def _save_unit(self, unit: _Unit) -> None:
        self.db.execute(
            "UPDATE units SET links = ?, members = ?, person = ?, contested = ?, split = ? "
            "WHERE id = ?",
            (
                unit.links,
                unit.members,
                unit.person,
                int(unit.contested),
                int(unit.split),
                unit.id,
            ),
        )

    # -- links ----------------------------------------------------------------------------

    def link(self, seq: int, link: Link, a: int, b: int, timestamp: str) -> None:
        """Record ``link`` between rows ``a`` and ``b`` and bring the profiles up to date."""
        self._event = (seq, link.message_id)
        kind = edge_kind(link.a, link.b)
        order = link_order(link)
        if kind == "claim":
            first, second = (b, a) if link.a.type == "user_id" else (a, b)
        else:
            first, second = min(a, b), max(a, b)
        known = self.db.execute(
            "SELECT id, ord FROM edges WHERE a = ? AND b = ?", (first, second)
        ).fetchone()
        new = known is None
        earlier = known is not None and order < known[1]
        if known is None:
            edge = self.db.execute(
                "INSERT INTO edges (a, b, kind, ord) VALUES (?, ?, ?, ?)",
                (first, second, kind, order),
            ).lastrowid
        else:
            edge = known[0]
            if earlier:
                self.db.execute("UPDATE edges SET ord = ? WHERE id = ?", (order, edge))
        self.db.execute(
            "INSERT INTO links (seq, a, b, kind, ord, timestamp, message_id, edge) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, a, b, link.kind, order, timestamp, link.message_id, edge),
        )
        if not (new or earlier):
            return
        if kind == "alias":
            if new:
                self._join(self._profile_of(first), self._profile_of(second))
        elif kind == "claim":
            self._claim(self._side(first), second, new)
        else:
            self._email(self._side(first), self._side(second), new)

    def _claim(self, free: _Side, user: int, new: bool) -> None:
        """A user id claims an anonymous id or email."""
        if free.unit is None:
            raise StorageError(f"identifier {free.id} has no unit")
        unit = self._unit(free.unit)
        user_profile = self._profile_of(user)
        if new:
            free.user_links += 1
            self.db.execute(
                "UPDATE identifiers SET user_links = ? WHERE id = ?", (free.user_links, free.id)
            )
            unit.links += 1
            if not free.shared and self.limits.is_shared(free.user_links):
                self._share(free, unit)
            elif not free.shared and not unit.contested:
                if unit.person is None:
                    unit.person, unit.person_profile = user, user_profile
                elif unit.person_profile != user_profile:
                    unit.contested = True
            self._save_unit(unit)
        if self._split_if_over(unit) or free.shared:
            return
        if unit.split:
            self._decide_alone(free.id)
        elif unit.contested:
            self._mark(unit.id)
        elif new:
            self._join(free.profile, user_profile)

    def _email(self, first: _Side, second: _Side, new: bool) -> None:
        """An identify with an email and no user id joins an anonymous id and an email."""
        if first.unit is None or second.unit is None:
            raise StorageError(f"identifiers {first.id} and {second.id} need units")
        if new:
            unit = self._merge_units(first.unit, second.unit)
            unit.links += 1
            self._save_unit(unit)
        else:
            unit = self._unit(first.unit)
        if self._split_if_over(unit) or unit.split or first.shared or second.shared:
            return
        if unit.contested:
            self._mark(unit.id)
        elif new:
            self._join(self._profile_of(first.id), self._profile_of(second.id))

    # -- units ----------------------------------------------------------------------------

    def _merge_units(self, first: int, second: int) -> _Unit:
        """One unit from two joined by an email link (the one with fewer members is relabelled).

        A part not yet over its cap is decided alone first when the whole will be over it.
        """
        if first == second:
            return self._unit(first)
        one, two = self._unit(first), self._unit(second)
        keep, drop = (one, two) if one.members >= two.members else (two, one)
        if self.limits.is_split(one.links + two.links + 1):
            newly_split = [part for part in (one, two) if not part.split]
            for part in newly_split:
                self._decide_all_alone(part.id)
                self._marked.pop(part.id, None)
            if len(newly_split) == 2:
                self._warn_split()
            keep.split = True
        contested = keep.contested or drop.contested
        if keep.person_profile is not None and drop.person_profile is not None:
            contested = contested or keep.person_profile != drop.person_profile
        keep.contested = contested
        if keep.person is None:
            keep.person, keep.person_profile = drop.person, drop.person_profile
        keep.links += drop.links
        keep.members += drop.members
        self.db.execute("UPDATE identifiers SET unit = ? WHERE unit = ?", (keep.id, drop.id))
        self.db.execute("DELETE FROM units WHERE id = ?", (drop.id,))
        marked = self._marked.pop(drop.id, None)
        if marked is not None and not keep.split:
            self._marked.setdefault(keep.id, marked)
        return keep

    def _split_if_over(self, unit: _Unit) -> bool:
        """Put a unit that has just passed its cap in its final form: each member decided alone."""
        if unit.split or not self.limits.is_split(unit.links):
            return False
        unit.split = True
        self._save_unit(unit)
        self._marked.pop(unit.id, None)
        self._decide_all_alone(unit.id)
        self._warn_split()
        return True

    def _mark(self, unit: int) -> None:
        self._marked.setdefault(unit, self._event)

    def settle(self) -> None:
        """Recompute every unit marked during the batch, once each."""
        marked, self._marked = self._marked, {}
        for unit, event in marked.items():
            self._event = event
            self._recompute(unit)

    def _members(self, unit: int) -> list[_Member]:
        return [
            _Member(id_, queries.identifier(type_, value), profile, anchor == "user_id", size, seen)
            for id_, type_, value, profile, anchor, size, seen in self.db.execute(
                f"{_MEMBERS} WHERE i.unit = ? AND i.shared = 0", (unit,)
            )
        ]

    def _recompute(self, unit: int) -> None:
        """Decide a unit from its own links, taken in order, each person acting as one node."""
        members = self._members(unit)
        inside = {member.id for member in members}
        links: list[tuple[str, int | _Person, int | _Person]] = [
            (order, free, _Person(profile))
            for free, order, profile in self.db.execute(
                "SELECT e.a, e.ord, u.profile FROM identifiers i "
                "JOIN edges e ON e.a = i.id AND e.kind = 'claim' "
                "JOIN identifiers u ON u.id = e.b WHERE i.unit = ? AND i.shared = 0",
                (unit,),
            )
        ]
        links.extend(
            (order, a, b)
            for a, b, order in self.db.execute(
                "SELECT e.a, e.b, e.ord FROM identifiers i "
                "JOIN edges e ON e.a = i.id AND e.kind = 'email' "
                "WHERE i.unit = ? AND i.shared = 0",
                (unit,),
            )
            if b in inside
        )
        components = join_in_order(links, lambda node: node if isinstance(node, _Person) else None)
        places: dict[int, int | _Alone] = {}
        for member in members:
            owner = components.owner(member.id)
            if isinstance(owner, _Person):
                places[member.id] = owner.profile
            else:
                root = components.find(member.id)
                places[member.id] = _Alone(root if isinstance(root, int) else member.id)
        self._place(members, places)

    def _first_claims(self, where: str, parameter: int) -> dict[int, int]:
        """Each listed identifier's earliest claim: identifier -> the claiming person's profile."""
        found: dict[int, int] = {}
        for free, profile in self.db.execute(
            "SELECT e.a, u.profile FROM identifiers i "
            "JOIN edges e ON e.a = i.id AND e.kind = 'claim' "
            f"JOIN identifiers u ON u.id = e.b WHERE {where} AND i.shared = 0 "
            "ORDER BY e.a, e.ord",
            (parameter,),
        ):
            found.setdefault(free, profile)
        return found

    def _decide_all_alone(self, unit: int) -> None:
        """Place every member of a unit by its own earliest claim (a unit over its cap)."""
        members = self._members(unit)
        claims = self._first_claims("i.unit = ?", unit)
        self._place(members, {m.id: claims.get(m.id, _Alone(m.id)) for m in members})

    def _decide_alone(self, node: int) -> None:
        """Place one member of a unit over its cap by its earliest claim."""
        members = self._members_by_id(node)
        claims = self._first_claims("i.id = ?", node)
        self._place(members, {node: claims.get(node, _Alone(node))})

    def _members_by_id(self, node: int) -> list[_Member]:
        return [
            _Member(id_, queries.identifier(type_, value), profile, anchor == "user_id", size, seen)
            for id_, type_, value, profile, anchor, size, seen in self.db.execute(
                f"{_MEMBERS} WHERE i.id = ?", (node,)
            )
        ]

    # -- profiles -------------------------------------------------------------------------

    def _place(self, members: list[_Member], places: dict[int, int | _Alone]) -> None:
        """Move ``members`` to their places: a person's profile, or profiles of their own.

        Every profile without a user id that a member is in holds only members given here (such
        a profile never spans units, and a shared identifier is alone), so those profiles can be
        rebuilt; one that already holds exactly its group is left as it is.
        """
        db = self.db
        groups: dict[int, list[_Member]] = {}
        for member in members:
            place = places[member.id]
            if isinstance(place, _Alone):
                groups.setdefault(place.root, []).append(member)
        kept: set[int] = set()
        for group in groups.values():
            profile = group[0].profile
            if (
                not group[0].personal
                and group[0].profile_size == len(group)
                and all(m.profile == profile for m in group)
            ):
                kept.add(profile)
        moved = [
            m
            for m in members
            if not (isinstance(places[m.id], _Alone) and m.profile in kept)
            and places[m.id] != m.profile
        ]
        if not moved:
            return
        dropped = {m.profile for m in moved if not m.personal}
        db.executemany("DELETE FROM profiles WHERE id = ?", [(p,) for p in dropped])
        lost: dict[int, int] = {}
        gained: dict[int, list[_Member]] = {}
        for member in moved:
            if member.personal:
                lost[member.profile] = lost.get(member.profile, 0) + 1
            place = places[member.id]
            if isinstance(place, int):
                gained.setdefault(place, []).append(member)
        updates: list[tuple[int, int]] = []
        for group in groups.values():
            if group[0].profile in kept:
                continue
            anchor = best_identifier(m.identifier for m in group)
            seen = max((m.last_seen for m in group if m.last_seen is not None), default=None)
            row = db.execute(
                "INSERT INTO profiles (public_id, anchor_type, anchor_value, size, last_seen) "
                "VALUES (?, ?, ?, ?, ?)",
                (anchor.key, anchor.type, anchor.value, len(group), seen),
            ).lastrowid
            if row is None:
                raise StorageError("the profile database did not return a row id")
            updates.extend((row, m.id) for m in group)
        for profile, group in gained.items():
            updates.extend((profile, m.id) for m in group)
        db.executemany("UPDATE identifiers SET profile = ? WHERE id = ?", updates)
        for profile in {*lost, *gained}:
            before = db.execute("SELECT size FROM profiles WHERE id = ?", (profile,)).fetchone()[0]
            after = before - lost.get(profile, 0) + len(gained.get(profile, []))
            seen = db.execute(
                "SELECT max(last_seen) FROM identifiers WHERE profile = ?", (profile,)
            ).fetchone()[0]
            db.execute(
                "UPDATE profiles SET size = ?, last_seen = ? WHERE id = ?", (after, seen, profile)
            )
            self._warn_if_large(before, after, profile)

    def _share(self, free: _Side, unit: _Unit) -> None:
        """Make ``free`` shared: it leaves its profile for one of its own and links nobody."""
        free.shared = True
        self.db.execute("UPDATE identifiers SET shared = 1 WHERE id = ?", (free.id,))
        size = self.db.execute(
            "SELECT size FROM profiles WHERE id = ?", (free.profile,)
        ).fetchone()[0]
        if size > 1:
            self._leave(free)
            if not unit.split:
                # The rest of the unit may have been joined through it.
                self._mark(unit.id)
        seq, message_id = self._event
        detail = (
            f"{free.type} {free.value!r} is linked to more than {self.limits.shared_after:,} "
            "user ids: it is treated as shared (a shared device, a test account or a bot) and "
            "links nobody"
        )
        self.warnings.append((seq, "shared_identifier", message_id, detail))

    def _leave(self, free: _Side) -> None:
        """Move ``free`` out of its profile into a profile of its own."""
        db = self.db
        old = free.profile
        anchor_type, anchor_value, size = db.execute(
            "SELECT anchor_type, anchor_value, size FROM profiles WHERE id = ?", (old,)
        ).fetchone()
        identifier = queries.identifier(free.type, free.value)
        anchor = queries.identifier(anchor_type, anchor_value)
        if anchor == identifier:
            # Only a profile without a user id is named by an anonymous id or email, and such a
            # profile holds members of one unit under its cap.
            anchor = best_identifier(
                queries.identifier(type_, value)
                for type_, value in db.execute(
                    "SELECT type, value FROM identifiers WHERE profile = ? AND id <> ?",
                    (old, free.id),
                )
            )
        seen_before = db.execute(
            "SELECT last_seen FROM identifiers WHERE id = ?", (free.id,)
        ).fetchone()[0]
        seen = db.execute(
            "SELECT max(last_seen) FROM identifiers WHERE profile = ? AND id <> ?",
            (old, free.id),
        ).fetchone()[0]
        # The old row gives up the key before the new row takes it.
        db.execute(
            "UPDATE profiles SET public_id = ?, anchor_type = ?, anchor_value = ?, size = ?, "
            "last_seen = ? WHERE id = ?",
            (anchor.key, anchor.type, anchor.value, size - 1, seen, old),
        )
        profile = db.execute(
            "INSERT INTO profiles (public_id, anchor_type, anchor_value, size, last_seen) "
            "VALUES (?, ?, ?, 1, ?)",
            (identifier.key, identifier.type, identifier.value, seen_before),
        ).lastrowid
        db.execute("UPDATE identifiers SET profile = ? WHERE id = ?", (profile, free.id))
        free.profile = int(profile) if profile is not None else free.profile

    def _join(self, first: int, second: int) -> None:
        """Join two profiles, the smaller moving into the larger."""
        if first == second:
            return
        db = self.db
        rows = {
            row[0]: row
            for row in db.execute(
                "SELECT id, anchor_type, anchor_value, size, last_seen FROM profiles "
                "WHERE id IN (?, ?)",
                (first, second),
            )
        }
        keep, drop = (first, second) if rows[first][3] >= rows[second][3] else (second, first)
        anchor = best_identifier(
            queries.identifier(rows[p][1], rows[p][2]) for p in (first, second)
        )
        seen = [rows[p][4] for p in (first, second) if rows[p][4] is not None]
        size = rows[first][3] + rows[second][3]
        db.execute("UPDATE identifiers SET profile = ? WHERE profile = ?", (keep, drop))
        db.execute("DELETE FROM profiles WHERE id = ?", (drop,))
        db.execute(
            "UPDATE profiles SET public_id = ?, anchor_type = ?, anchor_value = ?, size = ?, "
            "last_seen = ? WHERE id = ?",
            (anchor.key, anchor.type, anchor.value, size, max(seen, default=None), keep),
        )
        self._warn_if_large(rows[keep][3], size, keep)

    # -- warnings -------------------------------------------------------------------------

    def _warn_if_large(self, before: int, after: int, profile: int) -> None:
        """Warn when a profile reaches LARGE_PROFILE identifiers, or a power of ten above it."""
        threshold = LARGE_PROFILE
        while threshold * 10 <= after:
            threshold *= 10
        if not before < threshold <= after:
            return
        type_, value = self.db.execute(
            "SELECT anchor_type, anchor_value FROM profiles WHERE id = ?", (profile,)
        ).fetchone()
        detail = (
            f"the profile of {type_} {value!r} holds {after:,} identifiers: a user id shared by "
            "many visitors (a test account, a bot, a shared device) joins people who are not one"
        )
        seq, message_id = self._event
        self.warnings.append((seq, "large_profile", message_id, detail))

    def _warn_split(self) -> None:
        seq, message_id = self._event
        detail = (
            f"anonymous ids and emails joined by email links hold more than "
            f"{self.limits.unit_links:,} links here (this event's among them): their email links "
            "no longer join, and each of them keeps only its own user ids"
        )
        self.warnings.append((seq, "large_unit", message_id, detail))
