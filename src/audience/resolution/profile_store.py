"""The profile store: where resolution keeps the identity graph and its cursor.

:class:`ProfileStore` is the contract. :class:`SqlProfileStore` applies events and reads
profiles with statements written once, spelled with the store's
:class:`~audience.storage.dialect.SqlDialect`; its two backends supply only connections, the
transaction and its locking, and how the tables are emptied:
:class:`~audience.resolution.sqlite_profiles.SqliteProfileStore` (``profiles.sqlite3`` in the
data folder) and :class:`~audience.resolution.postgres_profiles.PostgresProfileStore`.

One writer at a time applies a batch of events; each batch and the cursor that records it commit
in one transaction, so a restart resumes exactly after the last batch. The tables are described
in :mod:`audience.resolution.schema`; links are applied by
:class:`~audience.resolution.linking.Linker` (a bounded amount of work per event, see
:mod:`audience.identity.graph`); reads live in :mod:`audience.resolution.queries`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Final, Protocol

from audience.errors import ConflictError, NotFoundError
from audience.eventlog import StoredEvent
from audience.identity.graph import (
    EventIdentity,
    Limits,
    OperatorAction,
    action_order_key,
    identity_of,
    is_cut,
    link_order,
)
from audience.identity.identifiers import Identifier
from audience.identity.profiles import IdentityWarning, LinkedEvent, MergeRecord, Profile
from audience.resolution import deletion, queries
from audience.resolution.deletion import PersonDeletion
from audience.resolution.linking import Linker
from audience.storage.dialect import SqlDialect, SqlSession

logger = logging.getLogger(__name__)

NODE_CACHE: Final = 500_000
"""Identifier row ids the writer remembers (ids never change until the store is cleared)."""

LOOKUP_CHUNK: Final = 500
"""Identifier keys looked up per query at the start of a batch."""

LIMIT_NAMES: Final = ("shared_after", "unit_links", "weekly_anonymous_ids", "weekly_emails")
"""The fields of :class:`~audience.identity.graph.Limits`, recorded by these names in ``state``."""


class ProfileStore(Protocol):
    """Profiles built from the event log, plus the position in the log they reflect."""

    def cursor(self) -> int:
        """The ``seq`` of the last event applied; 0 before the first."""
        ...

    def apply(self, events: Sequence[StoredEvent]) -> None:
        """Apply events in ``seq`` order and move the cursor past them, all in one transaction.

        Events at or below the cursor are skipped, so applying a batch twice changes nothing.
        """
        ...

    def clear(self) -> None:
        """Forget every profile and reset the cursor to 0 (for a rebuild)."""
        ...

    def lookup(self, identifier: Identifier) -> Profile | None:
        """The profile holding this identifier, if any."""
        ...

    def get(self, profile_id: str) -> Profile | None:
        """A profile by id; an id the profile had before a merge still finds it."""
        ...

    def events(
        self, profile_id: str, limit: int = 1000, after: tuple[str, int] | None = None
    ) -> list[LinkedEvent]:
        """The profile's events in time order, each with the identifier that linked it; only
        those after the position ``(order_key, seq)`` when ``after`` is given."""
        ...

    def events_before(
        self, profile_id: str, before: tuple[str, int], limit: int
    ) -> list[LinkedEvent]:
        """The profile's events just before the position ``before``, nearest first."""
        ...

    def search(self, query: str, limit: int = 50) -> list[Profile]:
        """Profiles whose identifier or trait value contains ``query`` (case folded; a string
        trait by its text), at most ``limit``: a profile holding an identifier equal to ``query``
        first, then newest activity first. An empty query lists the newest profiles."""
        ...

    def merges(self, profile_id: str) -> list[MergeRecord]:
        """The joins and refused joins that touch this profile, in time order."""
        ...

    def identifiers(self, profile_id: str) -> list[Identifier]:
        """Every identifier of the profile, best first (``Profile.identifiers`` stops at 1,000)."""
        ...

    def warnings(self, limit: int = 100) -> list[IdentityWarning]:
        """Refused merges and unusable identifiers, newest first."""
        ...

    def person(self, identifier: Identifier) -> list[Identifier]:
        """Every identifier of the person ``identifier`` names (its profile's); just
        ``identifier`` when no profile holds it."""
        ...

    def profile_identifiers(self, profile_id: str) -> list[Identifier]:
        """Every identifier of a profile (an id it had before a merge finds it too)."""
        ...

    def delete_identifiers(self, identifiers: Sequence[Identifier]) -> PersonDeletion:
        """Delete these identifiers and everything naming them (traits, groups, merge log,
        event links, warnings of their events, and each profile left empty), then scrub the
        deleted values from the database's files."""
        ...

    def merge(
        self, profiles: tuple[str, str], *, action_id: str, at: str, actor: str, reason: str
    ) -> OperatorAction:
        """Record an operator's merge of two profiles (by id) and apply it.

        Raises ``NotFoundError`` for an unknown profile and ``ConflictError`` when both ids
        name one profile.
        """
        ...

    def split(
        self,
        profile_id: str,
        identifier: Identifier,
        *,
        action_id: str,
        at: str,
        actor: str,
        reason: str,
    ) -> OperatorAction:
        """Record an operator's split of ``identifier`` off the profile and start the rebuild
        it needs (the cursor goes back to 0; the resolver applies the log again).

        Raises ``NotFoundError`` for an unknown profile and ``ConflictError`` for an identifier
        the profile does not hold or that is alone in it.
        """
        ...

    def record_action(self, action: OperatorAction) -> None:
        """Record an operator action and apply it: a merge at once, a split by a rebuild."""
        ...

    def actions(self) -> list[OperatorAction]:
        """Every operator action recorded, in order."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


@dataclass(frozen=True)
class EventIdentities:
    """Identities read from a batch's events before its transaction, by ``seq``, with the
    ``link_email`` choice they were read with."""

    link_email: bool
    by_seq: Mapping[int, EventIdentity]


class _Batch:
    """What one ``apply`` writes once at its end: rows repeated per event go in one statement each.

    An identifier's counters and the traits it saw are combined by order-insensitive rules (sums,
    minimum, maximum, the latest order key), so writing them at the end of the batch gives the
    same result as writing them event by event; traits and groups are folded by the same rule
    before they are written (a user who identifies on every page writes each trait once). Order
    keys and values compare as the stores compare them: by code point, byte by byte in UTF-8.
    """

    def __init__(self) -> None:
        self.event_links: list[tuple[int, int | None, str, str]] = []
        self.activity: dict[int, list[Any]] = {}
        self.traits: dict[tuple[int, str], tuple[str, str]] = {}
        """``(identifier, name) -> (order key, value)``: the latest of the batch."""
        self.groups: dict[tuple[int, str], str] = {}
        self.group_traits: dict[tuple[str, str], tuple[str, str]] = {}
        self.warnings: list[tuple[int, str, str, str]] = []
        self.indexed: set[int] = set()
        """Identifiers created or given traits: their search documents are written again."""

    def record(self, node: int, identity: EventIdentity) -> None:
        """Count one event for identifier ``node``."""
        timestamp, key = identity.timestamp, identity.order_key
        seen = self.activity.get(node)
        if seen is None:
            self.activity[node] = [1, timestamp, timestamp]
        else:
            seen[0] += 1
            seen[1] = min(seen[1], timestamp)
            seen[2] = max(seen[2], timestamp)
        if identity.traits:
            self.indexed.add(node)
            traits = self.traits
            for name, value in identity.traits.items():
                _keep_latest(traits, (node, name), (key, queries.dumps(value)))
        group = identity.group_id
        if group is not None:
            self.groups[node, group] = max(self.groups.get((node, group), key), key)
            for name, value in identity.group_traits.items():
                _keep_latest(self.group_traits, (group, name), (key, queries.dumps(value)))

    def write(self, db: SqlSession, dialect: SqlDialect) -> None:
        """Write everything recorded, inside the batch's transaction."""
        m = dialect.mark
        earliest = dialect.least(f"coalesce(first_seen, {m})", m)
        latest = dialect.greatest(f"coalesce(last_seen, {m})", m)
        db.executemany(
            "INSERT INTO event_links (seq, identifier, ord, timestamp) "
            f"VALUES ({m}, {m}, {m}, {m}) ON CONFLICT DO NOTHING",
            self.event_links,
        )
        db.executemany(
            f"UPDATE identifiers SET event_count = event_count + {m}, "
            f"first_seen = {earliest}, last_seen = {latest} WHERE id = {m}",
            [
                (count, first, first, last, last, node)
                for node, (count, first, last) in self.activity.items()
            ],
        )
        db.executemany(
            f"UPDATE profiles SET last_seen = {latest} "
            f"WHERE id = (SELECT profile FROM identifiers WHERE id = {m})",
            [(last, last, node) for node, (_, _, last) in self.activity.items()],
        )
        db.executemany(
            "INSERT INTO identifier_traits (identifier, name, value, ord) "
            f"VALUES ({m}, {m}, {m}, {m}) "
            "ON CONFLICT (identifier, name) DO UPDATE SET value = excluded.value, "
            "ord = excluded.ord WHERE (excluded.ord, excluded.value) > "
            "(identifier_traits.ord, identifier_traits.value)",
            [(node, name, value, key) for (node, name), (key, value) in self.traits.items()],
        )
        db.executemany(
            f"INSERT INTO identifier_groups (identifier, group_id, ord) VALUES ({m}, {m}, {m}) "
            "ON CONFLICT (identifier, group_id) DO UPDATE SET "
            f"ord = {dialect.greatest('identifier_groups.ord', 'excluded.ord')}",
            [(node, group, key) for (node, group), key in self.groups.items()],
        )
        db.executemany(
            f"INSERT INTO group_traits (group_id, name, value, ord) VALUES ({m}, {m}, {m}, {m}) "
            "ON CONFLICT (group_id, name) DO UPDATE SET value = excluded.value, "
            "ord = excluded.ord WHERE (excluded.ord, excluded.value) > "
            "(group_traits.ord, group_traits.value)",
            [
                (group, name, value, key)
                for (group, name), (key, value) in self.group_traits.items()
            ],
        )
        db.executemany(
            f"INSERT INTO warnings (seq, kind, message_id, detail) VALUES ({m}, {m}, {m}, {m})",
            self.warnings,
        )


def _keep_latest(
    held: dict[tuple[Any, str], tuple[str, str]], at: tuple[Any, str], candidate: tuple[str, str]
) -> None:
    """Keep at ``at`` the greater ``(order key, value)``, as the trait tables' upserts do."""
    current = held.get(at)
    if current is None or candidate > current:
        held[at] = candidate


class SqlProfileStore:
    """:class:`ProfileStore` on a SQL database: the rules and every statement, once.

    ``link_email`` makes identify traits' ``email`` an identifier that links profiles. Left as
    ``None``, the store uses the choice recorded by the last ``clear(link_email=...)`` (off until
    one is recorded), so every process that opens the store resolves by the same rules.

    ``limits`` (:class:`~audience.identity.graph.Limits`) are rules too: the store resolves by
    the limits recorded with its profiles. The given ones are recorded by the first batch of an
    empty store and by ``clear``; until then a store built with other limits keeps them (and says
    so in the log).

    A backend calls this constructor, opens its connections, then calls ``_check_generation``
    on its writer; it supplies ``_reader`` (a connection for one read), ``apply`` and ``clear``
    (the transaction and its locks, around ``_apply_batch`` and ``_clear_tables``),
    ``_empty_tables`` and ``close``.
    """

    def __init__(
        self, dialect: SqlDialect, *, link_email: bool | None = None, limits: Limits | None = None
    ) -> None:
        self._dialect = dialect
        self._write_lock = threading.Lock()
        self._link_email_given = link_email
        self.link_email = bool(link_email)
        self._limits_given = limits
        self.limits = limits or Limits()
        self._limits_recorded = False
        self._node_ids: dict[Identifier, int] = {}
        self._seen_generation = -1

    # -- what a backend supplies -----------------------------------------------------------

    def _reader(self) -> AbstractContextManager[SqlSession]:
        """A connection for one read, driver errors raised as ``StorageError``."""
        raise NotImplementedError

    def _empty_tables(self, db: SqlSession) -> None:
        """Delete every row of every table, inside the caller's transaction."""
        raise NotImplementedError

    def _matching(self, db: SqlSession, text: str, limit: int) -> list[int]:
        """Rows of profiles whose identifier or trait value contains ``text`` (not empty),
        newest activity first, at most ``limit``, read through the backend's search index."""
        raise NotImplementedError

    def _index(self, db: SqlSession, nodes: set[int]) -> None:
        """Write the search documents of identifiers ``nodes`` (created or given traits by the
        batch), inside its transaction; a backend whose indexes follow the tables does nothing."""

    def apply(self, events: Sequence[StoredEvent]) -> None:
        """See ``ProfileStore.apply``: ``_apply_batch`` in one transaction, under the locks."""
        raise NotImplementedError

    def _write(self, work: Callable[[SqlSession], None]) -> None:
        """Run ``work`` in one write transaction, under the lock batches take."""
        raise NotImplementedError

    def clear(self, *, link_email: bool | None = None) -> None:
        """Forget every profile; ``link_email`` also records whether emails link from now on.

        The limits given to this store are recorded too (the recorded ones when none were).
        """
        raise NotImplementedError

    def close(self) -> None:
        """Close every connection this store opened."""
        raise NotImplementedError

    def delete_identifiers(self, identifiers: Sequence[Identifier]) -> PersonDeletion:
        """See ``ProfileStore.delete_identifiers``: the transaction and locks are the
        backend's, around ``deletion.delete_identifiers``."""
        raise NotImplementedError

    # -- the write side -------------------------------------------------------------------

    def cursor(self) -> int:
        with self._reader() as db:
            row = db.execute("SELECT value FROM state WHERE name = 'cursor'").fetchone()
        return int(row[0]) if row else 0

    def _apply_batch(
        self,
        db: SqlSession,
        events: Sequence[StoredEvent],
        read: EventIdentities | None = None,
    ) -> None:
        """Apply the events past the cursor and move it, inside the caller's transaction.

        ``read`` holds identities the caller already read from these events, used when they were
        read with the ``link_email`` choice in force (another process may have changed it)."""
        m = self._dialect.mark
        row = db.execute("SELECT value FROM state WHERE name = 'cursor'").fetchone()
        cursor = int(row[0]) if row else 0
        self._check_generation(db)
        self._record_limits(db)
        batch = _Batch()
        linker = Linker(db, self._dialect, self.limits, batch.warnings)
        identities = read.by_seq if read and read.link_email == self.link_email else {}
        pending = [
            (
                event,
                identities.get(event.seq) or identity_of(event.message, link_email=self.link_email),
            )
            for event in sorted(events, key=lambda e: e.seq)
            if event.seq > cursor
        ]
        actions = self._load_actions(db, after=self._state(db, "actions_applied"))
        splits = self._split_points(db)
        self._look_up(
            db,
            {i for _, identity in pending for i in identity.identifiers}
            | {i for action in actions for i in (action.a, action.b) if i is not None},
        )
        self._apply_merges(db, actions, splits, linker, batch)
        for event, identity in pending:
            self._apply_event(db, event, identity, batch, linker, splits)
            cursor = event.seq
        linker.settle()
        batch.write(db, self._dialect)
        self._index(db, batch.indexed)
        db.execute(
            f"INSERT INTO state (name, value) VALUES ('cursor', {m}) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (cursor,),
        )

    def _clear_tables(self, db: SqlSession, link_email: bool | None) -> None:
        """Empty every table and write back the rules and a new generation (inside the caller's
        transaction)."""
        m = self._dialect.mark
        db.executemany(
            f"INSERT INTO state (name, value) VALUES ({m}, {m})",
            self._cleared_state(db, link_email),
        )

    def _cleared_state(self, db: SqlSession, link_email: bool | None) -> list[tuple[str, int]]:
        """Empty every table and return the state rows to write back: the rules and generation."""
        generation = self._generation(db) + 1
        recorded = self._state(db, "link_email")
        limits = self._limits_given or self.limits
        self._empty_tables(db)
        return [
            ("generation", generation),
            ("link_email", int(link_email) if link_email is not None else recorded),
            *((name, getattr(limits, name)) for name in LIMIT_NAMES),
        ]

    def _state(self, db: SqlSession, name: str) -> int:
        m = self._dialect.mark
        row = db.execute(f"SELECT value FROM state WHERE name = {m}", (name,)).fetchone()
        return int(row[0]) if row else 0

    def _generation(self, db: SqlSession) -> int:
        return self._state(db, "generation")

    def _check_generation(self, db: SqlSession) -> None:
        """Catch up with a ``clear`` made through another handle since the last batch: forget
        remembered row ids and take up the recorded ``link_email`` choice and limits."""
        generation = self._generation(db)
        if generation != self._seen_generation:
            self._node_ids.clear()
            self._seen_generation = generation
            self._limits_recorded = False
            if self._link_email_given is None:
                self.link_email = bool(self._state(db, "link_email"))
        if not self._limits_recorded:
            marks = self._dialect.marks(len(LIMIT_NAMES))
            rows = dict(
                db.execute(
                    f"SELECT name, value FROM state WHERE name IN ({marks})", LIMIT_NAMES
                ).fetchall()
            )
            if "shared_after" in rows and "unit_links" in rows:
                # A limit recorded by no earlier version is off (0) in a store it built.
                recorded = Limits(**{name: int(rows.get(name, 0)) for name in LIMIT_NAMES})
                if self._limits_given not in (None, recorded):
                    logger.warning(
                        "the profiles were built with %s; the limits given (%s) apply from the "
                        "next rebuild (audience resolve --rebuild)",
                        recorded,
                        self._limits_given,
                    )
                self.limits = recorded
                self._limits_recorded = True

    def _record_limits(self, db: SqlSession) -> None:
        """Record the limits in force if the store has none recorded yet (inside a batch)."""
        m = self._dialect.mark
        if self._limits_recorded:
            return
        db.executemany(
            f"INSERT INTO state (name, value) VALUES ({m}, {m}) ON CONFLICT (name) DO NOTHING",
            [(name, getattr(self.limits, name)) for name in LIMIT_NAMES],
        )
        # Another process may have recorded first: resolve by what is recorded.
        self._check_generation(db)

    def _apply_event(
        self,
        db: SqlSession,
        event: StoredEvent,
        identity: EventIdentity,
        batch: _Batch,
        linker: Linker,
        splits: Mapping[Identifier, str],
    ) -> None:
        known = self._node_ids
        nodes: dict[Identifier, int] = {}
        for identifier in identity.identifiers:
            node = known.get(identifier)
            nodes[identifier] = self._node(identifier, linker, batch) if node is None else node
        attributed = nodes[identity.identifier] if identity.identifier else None
        batch.event_links.append((event.seq, attributed, identity.order_key, identity.timestamp))
        if identity.junk or attributed is None:
            message_id = str(event.message.get("messageId") or "")
            for junk in identity.junk:
                detail = f"{junk.field} {junk.value!r} ignored"
                batch.warnings.append((event.seq, "junk_id", message_id, detail))
        if attributed is None:
            detail = "no usable userId or anonymousId"
            batch.warnings.append((event.seq, "no_identifier", message_id, detail))
        else:
            batch.record(attributed, identity)
        if not identity.links:
            return
        for link in sorted(identity.links, key=link_order):
            if not is_cut(link, splits):
                linker.link(event.seq, link, nodes[link.a], nodes[link.b], identity.timestamp)

    # -- operator actions -----------------------------------------------------------------

    def _apply_merges(
        self,
        db: SqlSession,
        actions: list[OperatorAction],
        splits: Mapping[Identifier, str],
        linker: Linker,
        batch: _Batch,
    ) -> None:
        """Apply the merges recorded since the last batch (splits only drop links) and record
        the last action applied. A merge's link has no event: its ``seq`` is 0."""
        m = self._dialect.mark
        if not actions:
            return
        for action in actions:
            if action.kind != "merge" or is_cut(action.link(), splits):
                continue
            link = action.link()
            a, b = self._node(link.a, linker, batch), self._node(link.b, linker, batch)
            linker.link(0, link, a, b, action.timestamp)
        last = db.execute("SELECT max(id) FROM operator_actions").fetchone()[0]
        db.execute(
            f"INSERT INTO state (name, value) VALUES ('actions_applied', {m}) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (int(last),),
        )

    def _load_actions(self, db: SqlSession, *, after: int = 0) -> list[OperatorAction]:
        m = self._dialect.mark
        return [
            OperatorAction(
                kind,
                queries.identifier(a_type, a_value),
                None if b_type is None else queries.identifier(b_type, b_value),
                order,
                action_id,
                actor,
                reason,
            )
            for kind, a_type, a_value, b_type, b_value, order, action_id, actor, reason in (
                db.execute(
                    "SELECT kind, a_type, a_value, b_type, b_value, ord, action_id, actor, reason "
                    f"FROM operator_actions WHERE id > {m} ORDER BY id",
                    (after,),
                )
            )
        ]

    def _split_points(self, db: SqlSession) -> dict[Identifier, str]:
        """Each split identifier -> its latest split's order key (links before it are dropped)."""
        return {
            queries.identifier(type_, value): str(order)
            for type_, value, order in db.execute(
                "SELECT a_type, a_value, max(ord) FROM operator_actions WHERE kind = 'split' "
                "GROUP BY a_type, a_value"
            )
        }

    def record_action(self, action: OperatorAction) -> None:
        """Record ``action`` and apply it in the same transaction: a merge is one more link; a
        split empties the profiles (keeping the actions and the recorded rules) so that the
        resolver rebuilds them from the first event without the links it drops."""
        self._write(lambda db: self._record(db, action))

    def _record(self, db: SqlSession, action: OperatorAction) -> None:
        m = self._dialect.mark
        b = action.b
        db.execute(
            "INSERT INTO operator_actions "
            "(action_id, kind, a_type, a_value, b_type, b_value, ord, actor, reason) "
            f"VALUES ({m}, {m}, {m}, {m}, {m}, {m}, {m}, {m}, {m}) "
            "ON CONFLICT (action_id) DO NOTHING",
            (
                action.action_id,
                action.kind,
                action.a.type,
                action.a.value,
                None if b is None else b.type,
                None if b is None else b.value,
                action.order_key,
                action.actor,
                action.reason,
            ),
        )
        if action.kind == "split":
            logger.warning(
                "%s %r is split off its profile: the profiles are rebuilt from the event log",
                action.a.type,
                action.a.value,
            )
            self._clear_tables(db, None)
        else:
            self._apply_batch(db, [])

    def actions(self) -> list[OperatorAction]:
        with self._reader() as db:
            return self._load_actions(db)

    def merge(
        self, profiles: tuple[str, str], *, action_id: str, at: str, actor: str, reason: str
    ) -> OperatorAction:
        with self._reader() as db:
            anchors = [
                self._anchor(db, public, f"profiles[{n}]") for n, public in enumerate(profiles)
            ]
        (first, one), (second, two) = anchors
        if first == second:
            raise ConflictError("profiles", "both ids name the same profile")
        action = OperatorAction(
            "merge", one, two, action_order_key(at, action_id), action_id, actor, reason
        )
        self.record_action(action)
        return action

    def split(
        self,
        profile_id: str,
        identifier: Identifier,
        *,
        action_id: str,
        at: str,
        actor: str,
        reason: str,
    ) -> OperatorAction:
        m = self._dialect.mark
        with self._reader() as db:
            internal, _ = self._anchor(db, profile_id, "profile")
            row = db.execute(
                "SELECT i.profile, p.size FROM identifiers i JOIN profiles p ON p.id = i.profile "
                f"WHERE i.key = {m}",
                (identifier.key,),
            ).fetchone()
        if row is None or int(row[0]) != internal:
            raise ConflictError(
                "identifier", f"the profile holds no {identifier.type} {identifier.value!r}"
            )
        if int(row[1]) < 2:
            raise ConflictError(
                "identifier", f"{identifier.type} {identifier.value!r} is alone in its profile"
            )
        action = OperatorAction(
            "split", identifier, None, action_order_key(at, action_id), action_id, actor, reason
        )
        self.record_action(action)
        return action

    def _anchor(self, db: SqlSession, public: str, field: str) -> tuple[int, Identifier]:
        """A profile's row and its anchor, by public id; ``NotFoundError`` naming ``field``."""
        m = self._dialect.mark
        internal = queries.internal_id(db, self._dialect, public)
        row = (
            None
            if internal is None
            else db.execute(
                f"SELECT anchor_type, anchor_value FROM profiles WHERE id = {m}", (internal,)
            ).fetchone()
        )
        if internal is None or row is None:
            raise NotFoundError(field, f"no profile {public!r}")
        return internal, queries.identifier(row[0], row[1])

    def _look_up(self, db: SqlSession, identifiers: set[Identifier]) -> None:
        """Remember the row ids of the batch's identifiers that exist, a few queries in all."""
        wanted = {i.key: i for i in identifiers if i not in self._node_ids}
        if len(self._node_ids) + len(wanted) > NODE_CACHE:
            self._node_ids.clear()
            wanted = {i.key: i for i in identifiers}
        keys = list(wanted)
        for start in range(0, len(keys), LOOKUP_CHUNK):
            chunk = keys[start : start + LOOKUP_CHUNK]
            marks = self._dialect.marks(len(chunk))
            for node, key in db.execute(
                f"SELECT id, key FROM identifiers WHERE key IN ({marks})", chunk
            ):
                self._node_ids[wanted[key]] = int(node)

    def _node(self, identifier: Identifier, linker: Linker, batch: _Batch) -> int:
        """The row id of ``identifier`` (looked up for the batch), creating it if it is new."""
        known = self._node_ids.get(identifier)
        if known is None:
            known = self._node_ids[identifier] = linker.create(identifier)
            batch.indexed.add(known)
        return known

    # -- the read side: each method borrows a reader connection for one query module call -

    def lookup(self, identifier: Identifier) -> Profile | None:
        """The profile holding ``identifier``; an email also finds a profile by its trait."""
        with self._reader() as db:
            internal = queries.holder(db, self._dialect, identifier)
            return queries.profile(db, self._dialect, internal) if internal is not None else None

    def get(self, profile_id: str) -> Profile | None:
        with self._reader() as db:
            internal = queries.internal_id(db, self._dialect, profile_id)
            return queries.profile(db, self._dialect, internal) if internal is not None else None

    def events(
        self, profile_id: str, limit: int = 1000, after: tuple[str, int] | None = None
    ) -> list[LinkedEvent]:
        with self._reader() as db:
            internal = queries.internal_id(db, self._dialect, profile_id)
            if internal is None:
                return []
            return queries.linked_events(db, self._dialect, internal, limit, after)

    def events_before(
        self, profile_id: str, before: tuple[str, int], limit: int
    ) -> list[LinkedEvent]:
        with self._reader() as db:
            internal = queries.internal_id(db, self._dialect, profile_id)
            if internal is None:
                return []
            return queries.linked_events_before(db, self._dialect, internal, before, limit)

    def search(self, query: str, limit: int = 50) -> list[Profile]:
        with self._reader() as db:
            return [
                queries.profile(db, self._dialect, internal)
                for internal in queries.search(db, self._dialect, query, limit, self._matching)
            ]

    def merges(self, profile_id: str) -> list[MergeRecord]:
        with self._reader() as db:
            internal = queries.internal_id(db, self._dialect, profile_id)
            return queries.merges(db, self._dialect, internal) if internal is not None else []

    def identifiers(self, profile_id: str) -> list[Identifier]:
        with self._reader() as db:
            internal = queries.internal_id(db, self._dialect, profile_id)
            return queries.identifiers(db, self._dialect, internal) if internal is not None else []

    def warnings(self, limit: int = 100) -> list[IdentityWarning]:
        with self._reader() as db:
            return queries.warnings(db, self._dialect, limit)

    def person(self, identifier: Identifier) -> list[Identifier]:
        with self._reader() as db:
            return deletion.person_identifiers(db, self._dialect, identifier)

    def profile_identifiers(self, profile_id: str) -> list[Identifier]:
        with self._reader() as db:
            internal = queries.internal_id(db, self._dialect, profile_id)
            if internal is None:
                return []
            return deletion.profile_identifiers(db, self._dialect, internal)
