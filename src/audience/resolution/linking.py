"""Applying links to the stored identity graph, one unit at a time, inside a batch's transaction.

:class:`Linker` keeps the tables of :mod:`audience.resolution.schema` equal to what
:func:`~audience.identity.graph.resolve_components` gives for every link applied so far. What a
link costs, cheapest first:

* a repeat of a pair already linked, no earlier than the pair's first link: nothing to decide
  (the pair's first link decided for all of them);
* an alias joining two people: their profiles join, the smaller moving into the larger;
* a link in a unit claimed by one person only, where no refusal is possible: the two profiles
  join (plain connected components);
* a link in a unit over its cap: only the anonymous id or email it names is decided again, from
  its own claims (at most ``shared_after`` of them);
* a new shared identifier: it leaves its profile;
* a claim past its user id's weekly limit (``Limits.weekly``): its edge is marked ``over_limit``
  and decides nothing; when it displaces a claim of the same week that was within the limit (it
  arrived late but happened first), or an edge moving to an earlier week makes room, the unit of
  the claim that changed is marked contested and recomputed, since edges over the limit are left
  out of every decision;
* otherwise (a contested unit, at most ``unit_links`` links): the unit is marked and recomputed
  once, by :meth:`Linker.settle` at the end of the batch, however many of its links the batch held.

A unit only grows; when it passes its cap its members are decided alone once, and never again as a
unit. So no event recomputes more than ``unit_links`` links.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from audience.errors import StorageError
from audience.identity.graph import Limits, Link, edge_kind, join_in_order, link_order, week_of
from audience.identity.identifiers import Identifier
from audience.identity.profiles import best_identifier
from audience.resolution import queries
from audience.storage.dialect import SqlDialect, SqlSession

LARGE_PROFILE: Final = 1000
"""Identifiers from which a profile is reported as too large (again at every power of ten)."""

Warning = tuple[int, str, str, str]
"""A warnings row: ``(seq, kind, message_id, detail)``."""


@dataclass(frozen=True)
class _ProfileRow:
    """A profile's row as a join needs it."""

    id: int
    anchor: Identifier
    size: int
    last_seen: str | None


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


@dataclass
class _Side:
    """An identifier as a link finds it: its profile, and its unit (``None`` for a user id)."""

    id: int
    type: str
    value: str
    profile: _ProfileRow
    unit: _Unit | None
    shared: bool
    user_links: int


_SIDES: Final = (
    "SELECT i.id, i.type, i.value, i.unit, i.shared, i.user_links, "
    "p.id, p.anchor_type, p.anchor_value, p.size, p.last_seen, "
    "u.links, u.members, u.person, pu.profile, u.contested, u.split, e.id, e.ord "
    "FROM identifiers i JOIN profiles p ON p.id = i.profile "
    "LEFT JOIN units u ON u.id = i.unit LEFT JOIN identifiers pu ON pu.id = u.person "
    "LEFT JOIN edges e ON e.a = {m} AND e.b = {m} "
    "WHERE i.id IN ({m}, {m})"
)
"""Both sides of a link in one read: each identifier with its profile and its unit, and the
edge of the pair if it is linked already (the dialect's placeholder still to put in)."""


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


class _Ids:
    """Row ids drawn by the batch itself, so that an insert never waits for an answer.

    Batches never overlap (SQLite's write lock, PostgreSQL's apply lock), so the largest id of a
    table, read once per batch, is the last one anybody drew.
    """

    def __init__(self, db: SqlSession) -> None:
        self._db = db
        self._last: dict[str, int] = {}

    def draw(self, table: str) -> int:
        last = self._last.get(table)
        if last is None:
            last = int(self._db.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0])
        self._last[table] = last + 1
        return last + 1


class Linker:
    """Applies the links of one batch; ``warnings`` collects the rows to write with the batch.

    The rows a batch may change once per link (a growing person's profile, a unit's counters, an
    identifier's count of user ids) are kept here and written once, by :meth:`_flush`: a row
    updated thousands of times in one transaction makes PostgreSQL walk every version of it.
    Whatever reads those rows from the database flushes first. Identifiers :meth:`create` makes
    are inserted together before the next link reads the graph (or by :meth:`settle`).
    """

    def __init__(
        self, db: SqlSession, dialect: SqlDialect, limits: Limits, warnings: list[Warning]
    ) -> None:
        self.db = db
        self.dialect = dialect
        self._sides_statement = _SIDES.format(m=dialect.mark)
        self.limits = limits
        self.warnings = warnings
        self._marked: dict[int, tuple[int, str]] = {}
        self._event = (0, "")
        self._ids = _Ids(db)
        self._profile_rows: dict[int, _ProfileRow] = {}
        self._unit_rows: dict[int, _Unit] = {}
        self._user_links: dict[int, int] = {}
        self._redecide: list[int] = []
        self._created: list[tuple[int, str, str, str, int, int | None]] = []
        self._created_profiles: list[tuple[int, str, str, str]] = []

    # -- identifiers ----------------------------------------------------------------------

    def create(self, identifier: Identifier) -> int:
        """A new identifier row with a profile of its own and, unless it is a user id, a unit of
        its own named by its id (the unit's row is written once it has links to count)."""
        node, profile = self._ids.draw("identifiers"), self._ids.draw("profiles")
        type_, value, key = identifier.type, identifier.value, identifier.key
        self._created_profiles.append((profile, key, type_, value))
        self._created.append(
            (node, type_, value, key, profile, None if type_ == "user_id" else node)
        )
        return node

    def _write_created(self) -> None:
        """Insert the identifiers (and their profiles) created since the last read, in one
        statement each: most of a batch's new identifiers come with events that link nothing."""
        m = self.dialect.mark
        if not self._created:
            return
        self.db.executemany(
            "INSERT INTO profiles (id, public_id, anchor_type, anchor_value, size) "
            f"VALUES ({m}, {m}, {m}, {m}, 1)",
            self._created_profiles,
        )
        self.db.executemany(
            "INSERT INTO identifiers (id, type, value, key, profile, unit) "
            f"VALUES ({m}, {m}, {m}, {m}, {m}, {m})",
            self._created,
        )
        self._created_profiles.clear()
        self._created.clear()

    def _sides(self, rows: list[tuple[Any, ...]]) -> dict[int, _Side]:
        sides: dict[int, _Side] = {}
        for row in rows:
            id_, type_, value, unit, shared, user_links = row[:6]
            profile = self._profile_rows.get(row[6]) or _ProfileRow(
                row[6], queries.identifier(row[7], row[8]), row[9], row[10]
            )
            links, members, person, person_profile, contested, split = row[11:17]
            user_links = self._user_links.get(id_, user_links)
            found = None
            if unit is not None:
                found = self._unit_rows.get(unit)
                if found is None and links is None:
                    found = _Unit(unit, 0, 1, None, None, False, False)
                elif found is None:
                    found = _Unit(
                        unit, links, members, person, person_profile, bool(contested), bool(split)
                    )
            sides[id_] = _Side(id_, type_, value, profile, found, bool(shared), user_links)
        return sides

    def _save_unit(self, unit: _Unit) -> None:
        self._unit_rows[unit.id] = unit

    def _flush(self) -> None:
        """Write the rows kept in memory (see the class docstring)."""
        m = self.dialect.mark
        db = self.db
        db.executemany(
            f"UPDATE profiles SET public_id = {m}, anchor_type = {m}, anchor_value = {m}, "
            f"size = {m}, last_seen = {m} WHERE id = {m}",
            [
                (p.anchor.key, p.anchor.type, p.anchor.value, p.size, p.last_seen, p.id)
                for p in self._profile_rows.values()
            ],
        )
        db.executemany(
            "INSERT INTO units (id, links, members, person, contested, split) "
            f"VALUES ({m}, {m}, {m}, {m}, {m}, {m}) "
            "ON CONFLICT (id) DO UPDATE SET links = excluded.links, "
            "members = excluded.members, person = excluded.person, "
            "contested = excluded.contested, split = excluded.split",
            [
                (u.id, u.links, u.members, u.person, int(u.contested), int(u.split))
                for u in self._unit_rows.values()
            ],
        )
        db.executemany(
            f"UPDATE identifiers SET user_links = {m} WHERE id = {m}",
            [(count, node) for node, count in self._user_links.items()],
        )
        self._profile_rows.clear()
        self._unit_rows.clear()
        self._user_links.clear()

    # -- links ----------------------------------------------------------------------------

    def link(self, seq: int, link: Link, a: int, b: int, timestamp: str) -> None:
        """Record ``link`` between rows ``a`` and ``b`` and bring the profiles up to date."""
        m = self.dialect.mark
        self._write_created()
        self._event = (seq, link.message_id)
        kind = edge_kind(link.a, link.b)
        order = link_order(link)
        if kind == "claim":
            first, second = (b, a) if link.a.type == "user_id" else (a, b)
        else:
            first, second = min(a, b), max(a, b)
        rows = self.db.execute(self._sides_statement, (first, second, first, second)).fetchall()
        edge, known = rows[0][17], rows[0][18]
        new = edge is None
        earlier = known is not None and order < known
        if edge is None:
            edge = self._ids.draw("edges")
            self.db.execute(
                f"INSERT INTO edges (id, a, b, kind, ord) VALUES ({m}, {m}, {m}, {m}, {m})",
                (edge, first, second, kind, order),
            )
        elif earlier:
            self.db.execute(f"UPDATE edges SET ord = {m} WHERE id = {m}", (order, edge))
        self.db.execute(
            "INSERT INTO links (seq, a, b, kind, ord, timestamp, message_id, edge) "
            f"VALUES ({m}, {m}, {m}, {m}, {m}, {m}, {m}, {m})",
            (seq, a, b, link.kind, order, timestamp, link.message_id, edge),
        )
        if not (new or earlier):
            return
        sides = self._sides(rows)
        one, two = sides[first], sides[second]
        if kind == "alias":
            if new:
                self._join(one.profile, two.profile)
        elif kind == "claim":
            over = self._weekly(edge, one, two, order, None if new else known)
            self._claim(one, two, new, over)
        else:
            self._email(one, two, new)

    # -- weekly limits --------------------------------------------------------------------

    def _week_claims(
        self, user: int, kind: str, order: str, limit: int
    ) -> list[tuple[int, int, int]]:
        """The first ``limit`` claims of ``user`` on identifiers of type ``kind`` in the week of
        ``order``, by edge order: ``(edge, identifier, over_limit)``."""
        m = self.dialect.mark
        start, end = week_of(order)
        return [
            (int(edge), int(free), int(over))
            for edge, free, over in self.db.execute(
                "SELECT e.id, e.a, e.over_limit FROM edges e JOIN identifiers f ON f.id = e.a "
                f"WHERE e.b = {m} AND e.kind = 'claim' AND e.ord >= {m} AND e.ord < {m} "
                f"AND f.type = {m} ORDER BY e.ord LIMIT {m}",
                (user, start, end, kind, limit),
            )
        ]

    def _weekly(self, edge: int, free: _Side, user: _Side, order: str, before: str | None) -> bool:
        """Whether the claim ``edge`` (now at ``order``, before at ``before``; ``None`` when new)
        is past its user id's weekly limit. Marks it, and leaves the claims whose standing it
        changed (its own, one it displaced, ones it made room for) to :meth:`settle`."""
        m = self.dialect.mark
        limit = self.limits.weekly(free.type)
        if not limit:
            return False
        first = self._week_claims(user.id, free.type, order, limit + 1)
        over = edge not in {claim[0] for claim in first[:limit]}
        was = self.db.execute(f"SELECT over_limit FROM edges WHERE id = {m}", (edge,)).fetchone()
        self.db.execute(f"UPDATE edges SET over_limit = {m} WHERE id = {m}", (int(over), edge))
        if before is not None and bool(was[0]) != over:
            self._redecide.append(free.id)
        if len(first) > limit and first[limit][0] != edge and not first[limit][2]:
            displaced, claimed, _ = first[limit]
            self.db.execute(f"UPDATE edges SET over_limit = 1 WHERE id = {m}", (displaced,))
            self._redecide.append(claimed)
        if before is not None and week_of(before) != week_of(order):
            for claim, claimed, was_over in self._week_claims(user.id, free.type, before, limit):
                if was_over:
                    self.db.execute(f"UPDATE edges SET over_limit = 0 WHERE id = {m}", (claim,))
                    self._redecide.append(claimed)
        return over

    def _decide_again(self) -> None:
        """Decide again the identifiers whose claims a limit let in or left out this batch:
        each unit becomes contested (so it is recomputed from its edges within the limits) or,
        over its cap, the identifier is decided alone."""
        m = self.dialect.mark
        nodes, self._redecide = dict.fromkeys(self._redecide), []
        self._flush()
        for node in nodes:
            unit, split = self.db.execute(
                "SELECT i.unit, coalesce(u.split, 0) FROM identifiers i "
                f"LEFT JOIN units u ON u.id = i.unit WHERE i.id = {m}",
                (node,),
            ).fetchone()
            if unit is None:
                raise StorageError(f"identifier {node} has no unit")
            if split:
                self._decide_alone(node)
            else:
                self.db.execute(f"UPDATE units SET contested = 1 WHERE id = {m}", (unit,))
                self._mark(int(unit))

    def _claim(self, free: _Side, user: _Side, new: bool, over: bool = False) -> None:
        """A user id claims an anonymous id or email (``over``: past the weekly limit, so the
        claim is counted but decides nothing)."""
        unit = free.unit
        if unit is None:
            raise StorageError(f"identifier {free.id} has no unit")
        if new:
            free.user_links += 1
            self._user_links[free.id] = free.user_links
            unit.links += 1
            if not free.shared and self.limits.is_shared(free.user_links):
                self._share(free, unit)
            elif not free.shared and not unit.contested and not over:
                if unit.person is None:
                    unit.person, unit.person_profile = user.id, user.profile.id
                elif unit.person_profile != user.profile.id:
                    unit.contested = True
            self._save_unit(unit)
        if self._split_if_over(unit) or free.shared or over:
            return
        if unit.split:
            self._decide_alone(free.id)
        elif unit.contested:
            self._mark(unit.id)
        elif new:
            self._join(free.profile, user.profile)

    def _email(self, first: _Side, second: _Side, new: bool) -> None:
        """An identify with an email and no user id joins an anonymous id and an email."""
        if first.unit is None or second.unit is None:
            raise StorageError(f"identifiers {first.id} and {second.id} need units")
        unit = first.unit
        if new:
            unit = self._merge_units(first.unit, second.unit)
            unit.links += 1
            self._save_unit(unit)
        if self._split_if_over(unit) or unit.split or first.shared or second.shared:
            return
        if unit.contested:
            self._mark(unit.id)
        elif new:
            self._join(first.profile, second.profile)

    # -- units ----------------------------------------------------------------------------

    def _merge_units(self, first: _Unit, second: _Unit) -> _Unit:
        """One unit from two joined by an email link (the one with fewer members is relabelled).

        A part not yet over its cap is decided alone first when the whole will be over it.
        """
        m = self.dialect.mark
        if first.id == second.id:
            return first
        one, two = first, second
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
        self.db.execute(f"UPDATE identifiers SET unit = {m} WHERE unit = {m}", (keep.id, drop.id))
        self.db.execute(f"DELETE FROM units WHERE id = {m}", (drop.id,))
        self._unit_rows.pop(drop.id, None)
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
        """Recompute every unit marked during the batch, once each, and write what is kept
        in memory: the batch's statements after it may read every row."""
        self._write_created()
        if self._redecide:
            self._decide_again()
        marked, self._marked = self._marked, {}
        for unit, event in marked.items():
            self._event = event
            self._recompute(unit)
        self._flush()

    def _members(self, unit: int) -> list[_Member]:
        m = self.dialect.mark
        self._flush()
        return [
            _Member(id_, queries.identifier(type_, value), profile, anchor == "user_id", size, seen)
            for id_, type_, value, profile, anchor, size, seen in self.db.execute(
                f"{_MEMBERS} WHERE i.unit = {m} AND i.shared = 0", (unit,)
            )
        ]

    def _recompute(self, unit: int) -> None:
        """Decide a unit from its own links, taken in order, each person acting as one node."""
        m = self.dialect.mark
        members = self._members(unit)
        inside = {member.id for member in members}
        links: list[tuple[str, int | _Person, int | _Person]] = [
            (order, free, _Person(profile))
            for free, order, profile in self.db.execute(
                "SELECT e.a, e.ord, u.profile FROM identifiers i "
                "JOIN edges e ON e.a = i.id AND e.kind = 'claim' AND e.over_limit = 0 "
                f"JOIN identifiers u ON u.id = e.b WHERE i.unit = {m} AND i.shared = 0",
                (unit,),
            )
        ]
        links.extend(
            (order, a, b)
            for a, b, order in self.db.execute(
                "SELECT e.a, e.b, e.ord FROM identifiers i "
                "JOIN edges e ON e.a = i.id AND e.kind = 'email' "
                f"WHERE i.unit = {m} AND i.shared = 0",
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
            "JOIN edges e ON e.a = i.id AND e.kind = 'claim' AND e.over_limit = 0 "
            f"JOIN identifiers u ON u.id = e.b WHERE {where} AND i.shared = 0 "
            "ORDER BY e.a, e.ord",
            (parameter,),
        ):
            found.setdefault(free, profile)
        return found

    def _decide_all_alone(self, unit: int) -> None:
        """Place every member of a unit by its own earliest claim (a unit over its cap)."""
        m = self.dialect.mark
        members = self._members(unit)
        claims = self._first_claims(f"i.unit = {m}", unit)
        self._place(members, {m.id: claims.get(m.id, _Alone(m.id)) for m in members})

    def _decide_alone(self, node: int) -> None:
        """Place one member of a unit over its cap by its earliest claim."""
        m = self.dialect.mark
        members = self._members_by_id(node)
        claims = self._first_claims(f"i.id = {m}", node)
        self._place(members, {node: claims.get(node, _Alone(node))})

    def _members_by_id(self, node: int) -> list[_Member]:
        m = self.dialect.mark
        self._flush()
        return [
            _Member(id_, queries.identifier(type_, value), profile, anchor == "user_id", size, seen)
            for id_, type_, value, profile, anchor, size, seen in self.db.execute(
                f"{_MEMBERS} WHERE i.id = {m}", (node,)
            )
        ]

    # -- profiles -------------------------------------------------------------------------

    def _place(self, members: list[_Member], places: dict[int, int | _Alone]) -> None:
        """Move ``members`` to their places: a person's profile, or profiles of their own.

        Every profile without a user id that a member is in holds only members given here (such
        a profile never spans units, and a shared identifier is alone), so those profiles can be
        rebuilt; one that already holds exactly its group is left as it is.
        """
        m = self.dialect.mark
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
        db.executemany(f"DELETE FROM profiles WHERE id = {m}", [(p,) for p in dropped])
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
            row = self._ids.draw("profiles")
            db.execute(
                "INSERT INTO profiles (id, public_id, anchor_type, anchor_value, size, last_seen) "
                f"VALUES ({m}, {m}, {m}, {m}, {m}, {m})",
                (row, anchor.key, anchor.type, anchor.value, len(group), seen),
            )
            updates.extend((row, m.id) for m in group)
        for profile, group in gained.items():
            updates.extend((profile, m.id) for m in group)
        db.executemany(f"UPDATE identifiers SET profile = {m} WHERE id = {m}", updates)
        for profile in {*lost, *gained}:
            before = db.execute(f"SELECT size FROM profiles WHERE id = {m}", (profile,)).fetchone()[
                0
            ]
            after = before - lost.get(profile, 0) + len(gained.get(profile, []))
            seen = db.execute(
                f"SELECT max(last_seen) FROM identifiers WHERE profile = {m}", (profile,)
            ).fetchone()[0]
            db.execute(
                f"UPDATE profiles SET size = {m}, last_seen = {m} WHERE id = {m}",
                (after, seen, profile),
            )
            self._warn_if_large(before, after, profile)

    def _share(self, free: _Side, unit: _Unit) -> None:
        """Make ``free`` shared: it leaves its profile for one of its own and links nobody."""
        m = self.dialect.mark
        free.shared = True
        self.db.execute(f"UPDATE identifiers SET shared = 1 WHERE id = {m}", (free.id,))
        if free.profile.size > 1:
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
        m = self.dialect.mark
        self._flush()
        db = self.db
        old = free.profile
        identifier = queries.identifier(free.type, free.value)
        anchor = old.anchor
        if anchor == identifier:
            # Only a profile without a user id is named by an anonymous id or email, and such a
            # profile holds members of one unit under its cap.
            anchor = best_identifier(
                queries.identifier(type_, value)
                for type_, value in db.execute(
                    f"SELECT type, value FROM identifiers WHERE profile = {m} AND id <> {m}",
                    (old.id, free.id),
                )
            )
        seen_before = db.execute(
            f"SELECT last_seen FROM identifiers WHERE id = {m}", (free.id,)
        ).fetchone()[0]
        seen = db.execute(
            f"SELECT max(last_seen) FROM identifiers WHERE profile = {m} AND id <> {m}",
            (old.id, free.id),
        ).fetchone()[0]
        # The old row gives up the key before the new row takes it.
        db.execute(
            f"UPDATE profiles SET public_id = {m}, anchor_type = {m}, anchor_value = {m}, "
            f"size = {m}, last_seen = {m} WHERE id = {m}",
            (anchor.key, anchor.type, anchor.value, old.size - 1, seen, old.id),
        )
        profile = self._ids.draw("profiles")
        db.execute(
            "INSERT INTO profiles (id, public_id, anchor_type, anchor_value, size, last_seen) "
            f"VALUES ({m}, {m}, {m}, {m}, 1, {m})",
            (profile, identifier.key, identifier.type, identifier.value, seen_before),
        )
        db.execute(f"UPDATE identifiers SET profile = {m} WHERE id = {m}", (profile, free.id))
        free.profile = _ProfileRow(profile, identifier, 1, seen_before)

    def _join(self, first: _ProfileRow, second: _ProfileRow) -> None:
        """Join two profiles, the smaller moving into the larger."""
        m = self.dialect.mark
        if first.id == second.id:
            return
        keep, drop = (first, second) if first.size >= second.size else (second, first)
        anchor = best_identifier((first.anchor, second.anchor))
        seen = max((p.last_seen for p in (first, second) if p.last_seen is not None), default=None)
        size = first.size + second.size
        db = self.db
        db.execute(f"UPDATE identifiers SET profile = {m} WHERE profile = {m}", (keep.id, drop.id))
        db.execute(f"DELETE FROM profiles WHERE id = {m}", (drop.id,))
        self._profile_rows.pop(drop.id, None)
        self._profile_rows[keep.id] = _ProfileRow(keep.id, anchor, size, seen)
        self._warn_if_large(keep.size, size, keep.id, anchor)

    # -- warnings -------------------------------------------------------------------------

    def _warn_if_large(
        self, before: int, after: int, profile: int, anchor: Identifier | None = None
    ) -> None:
        """Warn when a profile reaches LARGE_PROFILE identifiers, or a power of ten above it."""
        m = self.dialect.mark
        threshold = LARGE_PROFILE
        while threshold * 10 <= after:
            threshold *= 10
        if not before < threshold <= after:
            return
        if anchor is None:
            type_, value = self.db.execute(
                f"SELECT anchor_type, anchor_value FROM profiles WHERE id = {m}", (profile,)
            ).fetchone()
            anchor = queries.identifier(type_, value)
        detail = (
            f"the profile of {anchor.type} {anchor.value!r} holds {after:,} identifiers: a user "
            "id shared by many visitors (a test account, a bot, a shared device) joins people "
            "who are not one"
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
