"""Reading profiles out of the profile database: plain functions over one connection.

Each takes the connection and its :class:`~audience.storage.dialect.SqlDialect`, so the same
statements read SQLite and PostgreSQL.

Profiles are stored as their identifiers' parts; these functions fold the parts back into a
:class:`~audience.identity.profiles.Profile` when someone looks.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json.encoder import encode_basestring_ascii
from typing import Any, Final, cast

from audience.identity.graph import edge_kind
from audience.identity.identifiers import Identifier, IdentifierType
from audience.identity.profiles import (
    GroupMembership,
    IdentityWarning,
    LinkedEvent,
    MergeRecord,
    Profile,
    RefusalCause,
    TraitValue,
    fold_traits,
)
from audience.jsontypes import JSON
from audience.storage.dialect import SqlDialect, SqlSession

MAX_LISTED_IDENTIFIERS: Final = 1000
"""A profile lists at most this many identifiers (best first); ``identifier_count`` has them all."""

_MERGE_SELECT: Final = (
    "SELECT ia.type, ia.value, ib.type, ib.value, l.kind, "
    "CASE WHEN ia.profile = ib.profile THEN 'joined' ELSE 'refused' END, "
    "l.timestamp, l.message_id, l.seq, ia.shared + ib.shared, coalesce(u.split, 0), "
    "coalesce(o.actor, ''), coalesce(o.reason, ''), e.over_limit "
    "FROM links l JOIN identifiers ia ON ia.id = l.a JOIN identifiers ib ON ib.id = l.b "
    "JOIN edges e ON e.id = l.edge LEFT JOIN units u ON u.id = ia.unit "
    "LEFT JOIN operator_actions o ON l.kind = 'merge' AND o.action_id = l.message_id"
)
"""Links with their outcome, read from the profiles: a link is refused exactly when its two sides
are in different profiles (an accepted link puts them in one); otherwise the first link of a pair
``joined`` it and later ones repeat it. Also whether a shared identifier or a unit over its cap
is why (or a user id's weekly limit), and who recorded an operator's merge and why."""


def dumps(value: JSON) -> str:
    """The one JSON text form of stored values (compact, sorted keys), so equal values compare."""
    # Most trait values are strings or whole numbers: the text json.dumps gives them, directly.
    kind = type(value)
    if kind is str:
        return encode_basestring_ascii(value)
    if kind is int:
        return repr(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def identifier(type_: str, value: str) -> Identifier:
    """An identifier read back from the database, where ``type`` is one of the three types."""
    return Identifier(cast(IdentifierType, type_), value)


def internal_id(db: SqlSession, dialect: SqlDialect, profile_id: str) -> int | None:
    """The row of a profile by its id, or by an id it had before a merge."""
    m = dialect.mark
    row = db.execute(f"SELECT id FROM profiles WHERE public_id = {m}", (profile_id,)).fetchone()
    if row is None:
        row = db.execute(
            f"SELECT profile FROM identifiers WHERE key = {m}", (profile_id,)
        ).fetchone()
    return int(row[0]) if row else None


def holder(db: SqlSession, dialect: SqlDialect, wanted: Identifier) -> int | None:
    """The row of the profile holding ``wanted``; an email is also found through the trait."""
    m = dialect.mark
    row = db.execute(
        f"SELECT profile FROM identifiers WHERE type = {m} AND value = {m}",
        (wanted.type, wanted.value),
    ).fetchone()
    if row is None and wanted.type == "email":
        # Without email linking, an email is found through the ``email`` trait.
        row = db.execute(
            "SELECT i.profile FROM identifier_traits t "
            "JOIN identifiers i ON i.id = t.identifier "
            f"WHERE t.name = 'email' AND lower(t.value) = {m} ORDER BY t.ord DESC LIMIT 1",
            (dumps(wanted.value.lower()),),
        ).fetchone()
    return int(row[0]) if row else None


def _groups(db: SqlSession, dialect: SqlDialect, internal: int) -> tuple[GroupMembership, ...]:
    m = dialect.mark
    group_ids = sorted(
        {
            row[0]
            for row in db.execute(
                "SELECT g.group_id FROM identifier_groups g "
                f"JOIN identifiers i ON i.id = g.identifier WHERE i.profile = {m}",
                (internal,),
            )
        }
    )
    return tuple(
        GroupMembership(
            group_id,
            {
                name: value
                for name, raw in db.execute(
                    f"SELECT name, value FROM group_traits WHERE group_id = {m} ORDER BY name",
                    (group_id,),
                )
                if (value := json.loads(raw)) is not None
            },
        )
        for group_id in group_ids
    )


def identifiers(db: SqlSession, dialect: SqlDialect, internal: int) -> list[Identifier]:
    """Every identifier of the profile at row ``internal``, best first."""
    found = [
        identifier(type_, value)
        for type_, value in db.execute(
            f"SELECT type, value FROM identifiers WHERE profile = {dialect.mark}", (internal,)
        )
    ]
    found.sort(key=lambda item: item.rank)
    return found


def profile(db: SqlSession, dialect: SqlDialect, internal: int) -> Profile:
    """The whole profile at row ``internal``, its parts folded together."""
    m = dialect.mark
    public_id = db.execute(f"SELECT public_id FROM profiles WHERE id = {m}", (internal,)).fetchone()
    held = identifiers(db, dialect, internal)
    first_seen, last_seen, count = db.execute(
        "SELECT min(first_seen), max(last_seen), coalesce(sum(event_count), 0) "
        f"FROM identifiers WHERE profile = {m}",
        (internal,),
    ).fetchone()
    traits = fold_traits(
        TraitValue(name, json.loads(value), ord_)
        for name, value, ord_ in db.execute(
            "SELECT t.name, t.value, t.ord FROM identifier_traits t "
            f"JOIN identifiers i ON i.id = t.identifier WHERE i.profile = {m}",
            (internal,),
        )
    )
    return Profile(
        id=public_id[0],
        identifiers=tuple(held[:MAX_LISTED_IDENTIFIERS]),
        identifier_count=len(held),
        traits=traits,
        groups=_groups(db, dialect, internal),
        first_seen=first_seen,
        last_seen=last_seen,
        event_count=int(count),
    )


_LINKED_SELECT: Final = (
    "SELECT e.seq, i.type, i.value, e.timestamp, e.ord FROM event_links e "
    "JOIN identifiers i ON i.id = e.identifier WHERE i.profile = {m}"
)
"""A profile's linked events, with the dialect's placeholder still to put in (``.format``)."""


def _linked(rows: Any) -> list[LinkedEvent]:
    return [
        LinkedEvent(seq, identifier(type_, value), timestamp, ord_)
        for seq, type_, value, timestamp, ord_ in rows
    ]


def linked_events(
    db: SqlSession,
    dialect: SqlDialect,
    internal: int,
    limit: int,
    after: tuple[str, int] | None = None,
) -> list[LinkedEvent]:
    """The profile's events in time order (order key, then ``seq``), those after ``after`` only
    when given, with the identifier that linked each.

    Each of the profile's identifiers is read from the ``event_links_identifier`` index from
    the position on, never from an offset.
    """
    m = dialect.mark
    if after is None:
        rows = db.execute(
            f"{_LINKED_SELECT.format(m=m)} ORDER BY e.ord, e.seq LIMIT {m}", (internal, limit)
        )
    else:
        rows = db.execute(
            f"{_LINKED_SELECT.format(m=m)} AND e.ord >= {m} AND (e.ord, e.seq) > ({m}, {m}) "
            f"ORDER BY e.ord, e.seq LIMIT {m}",
            (internal, after[0], after[0], after[1], limit),
        )
    return _linked(rows)


def linked_events_before(
    db: SqlSession, dialect: SqlDialect, internal: int, before: tuple[str, int], limit: int
) -> list[LinkedEvent]:
    """The profile's events just before ``before``, nearest first (reverse time order)."""
    m = dialect.mark
    rows = db.execute(
        f"{_LINKED_SELECT.format(m=m)} AND e.ord <= {m} AND (e.ord, e.seq) < ({m}, {m}) "
        f"ORDER BY e.ord DESC, e.seq DESC LIMIT {m}",
        (internal, before[0], before[0], before[1], limit),
    )
    return _linked(rows)


SEARCH_SEPARATOR: Final = "\x1f"
"""Between the parts (identifier value, trait values) of an identifier's search document."""

SEARCH_TYPES: Final = ("user_id", "anonymous_id", "email")
"""The identifier types, for finding an exact identifier through the ``(type, value)`` index."""

Matching = Callable[[SqlSession, str, int], list[int]]
"""A backend's indexed search: rows of profiles whose identifier or trait value contains the
text, newest activity first, at most the given number."""


def contains(text: str) -> str:
    """A ``LIKE`` pattern (escape character ``\\``) for values containing ``text``."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search(
    db: SqlSession, dialect: SqlDialect, query: str, limit: int, matching: Matching
) -> list[int]:
    """Rows of profiles with an identifier or trait value containing ``query``: a profile holding
    an identifier equal to it first, then the others by newest activity; at most ``limit``."""
    m = dialect.mark
    text = query.strip()
    if limit <= 0:
        return []
    if not text:
        rows = db.execute(
            f"SELECT id FROM profiles ORDER BY last_seen {dialect.descending}, id DESC LIMIT {m}",
            (limit,),
        ).fetchall()
        return [int(row[0]) for row in rows]
    exact: list[int] = []
    for row in db.execute(
        f"SELECT profile FROM identifiers WHERE type IN ({dialect.marks(len(SEARCH_TYPES))}) "
        f"AND value = {m}",
        (*SEARCH_TYPES, text),
    ):
        if int(row[0]) not in exact:
            exact.append(int(row[0]))
    found = exact + [row for row in matching(db, text, limit + len(exact)) if row not in exact]
    return found[:limit]


def _merge_record(row: tuple[Any, ...]) -> MergeRecord:
    a_type, a_value, b_type, b_value, kind, status, timestamp, message_id, seq, shared, split = row[
        :11
    ]
    actor, note, over = row[11:14]
    a, b = identifier(a_type, a_value), identifier(b_type, b_value)
    cause: RefusalCause = "different_people"
    if over:
        cause = "over_limit"
    elif shared:
        cause = "shared_identifier"
    elif split and edge_kind(a, b) == "email":
        cause = "large_unit"
    return MergeRecord(a, b, kind, status, timestamp, message_id, seq, cause, actor, note)


def merges(db: SqlSession, dialect: SqlDialect, internal: int) -> list[MergeRecord]:
    """Joins and refused joins touching the profile at row ``internal``, in time order."""
    m = dialect.mark
    rows = db.execute(
        f"{_MERGE_SELECT} WHERE (ia.profile <> ib.profile OR l.ord = e.ord) AND l.id IN ("
        f" SELECT l2.id FROM links l2 JOIN identifiers i ON i.id = l2.a WHERE i.profile = {m}"
        " UNION SELECT l3.id FROM links l3 JOIN identifiers i ON i.id = l3.b"
        f" WHERE i.profile = {m}) ORDER BY l.ord",
        (internal, internal),
    ).fetchall()
    records = [_merge_record(row) for row in rows]
    for type_, value, timestamp, action_id, actor, note in db.execute(
        "SELECT o.a_type, o.a_value, substr(o.ord, 1, 24), o.action_id, o.actor, o.reason "
        "FROM operator_actions o JOIN identifiers i ON i.type = o.a_type AND i.value = o.a_value "
        f"WHERE o.kind = 'split' AND i.profile = {m} ORDER BY o.ord",
        (internal,),
    ):
        split_off = identifier(type_, value)
        records.append(
            MergeRecord(
                split_off,
                split_off,
                "split",
                "split",
                timestamp,
                action_id,
                0,
                actor=actor,
                note=note,
            )
        )
    records.sort(key=lambda record: record.timestamp)
    return records


def warnings(db: SqlSession, dialect: SqlDialect, limit: int) -> list[IdentityWarning]:
    """Refused merges and unusable identifiers, newest first."""
    m = dialect.mark
    refused = [
        _merge_record(row)
        for row in db.execute(
            f"{_MERGE_SELECT} WHERE ia.profile <> ib.profile ORDER BY l.seq DESC LIMIT {m}",
            (limit,),
        )
    ]
    others = [
        IdentityWarning(kind, seq, message_id, detail)
        for kind, seq, message_id, detail in db.execute(
            f"SELECT kind, seq, message_id, detail FROM warnings ORDER BY seq DESC LIMIT {m}",
            (limit,),
        )
    ]
    found = [
        *(IdentityWarning("merge_refused", r.seq, r.message_id, r.reason) for r in refused),
        *others,
    ]
    found.sort(key=lambda warning: warning.seq, reverse=True)
    return found[:limit]
