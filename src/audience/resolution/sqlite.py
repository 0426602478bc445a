"""The SQLite profile store: the identity graph in its own database file, ``profiles.sqlite3``.

One writer (the resolver) applies batches of events; each batch and the cursor that records it
commit in one transaction, so a restart resumes exactly after the last batch. Readers use their
own connections (WAL lets them read while the writer writes).

Tables: ``identifiers`` (each with its profile, its cluster and what it has seen),
``profiles`` (one row per connected component), ``clusters`` (identifiers connected by any link,
refused ones included: the unit that is recomputed when an older link arrives late),
``links`` (every link with its outcome: joined, redundant or refused; the merge log),
``identifier_traits``/``identifier_groups``/``group_traits`` (folded by order key),
``event_links`` (each event -> the identifier that linked it), ``warnings`` and ``state``.
"""

from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, cast

from audience.errors import StorageError
from audience.eventlog import StoredEvent
from audience.jsontypes import JSON
from audience.resolution.graph import (
    EventIdentity,
    Link,
    LinkKind,
    decide,
    identity_of,
    link_order,
    needs_recompute,
    person_classes,
    resolve_components,
)
from audience.resolution.identifiers import Identifier, IdentifierType
from audience.resolution.profiles import (
    GroupMembership,
    IdentityWarning,
    LinkedEvent,
    MergeRecord,
    Profile,
    TraitValue,
    best_identifier,
    fold_traits,
)

logger = logging.getLogger(__name__)

FILENAME: Final = "profiles.sqlite3"
"""The file name of the profile database inside the data directory."""

WRITER_CACHE_KIB: Final = 128 * 1024
"""Page cache of the writer connection (SQLite's default is 2 MiB)."""

NODE_CACHE: Final = 500_000
"""Identifier row ids the writer remembers (ids never change until the store is cleared)."""

MAX_LISTED_IDENTIFIERS: Final = 1000
"""A profile lists at most this many identifiers (best first); ``identifier_count`` has them all."""

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS identifiers (
    id INTEGER PRIMARY KEY,
    type TEXT NOT NULL,
    value TEXT NOT NULL,
    key TEXT NOT NULL UNIQUE,
    profile INTEGER NOT NULL,
    cluster INTEGER NOT NULL,
    first_seen TEXT,
    last_seen TEXT,
    event_count INTEGER NOT NULL DEFAULT 0,
    UNIQUE (type, value)
);
CREATE INDEX IF NOT EXISTS identifiers_profile ON identifiers (profile);
CREATE INDEX IF NOT EXISTS identifiers_cluster ON identifiers (cluster);
CREATE TABLE IF NOT EXISTS profiles (
    id INTEGER PRIMARY KEY,
    public_id TEXT NOT NULL UNIQUE,
    anchor_type TEXT NOT NULL,
    anchor_value TEXT NOT NULL,
    cluster INTEGER NOT NULL,
    person TEXT,
    size INTEGER NOT NULL,
    last_seen TEXT
);
CREATE INDEX IF NOT EXISTS profiles_cluster ON profiles (cluster);
CREATE INDEX IF NOT EXISTS profiles_last_seen ON profiles (last_seen);
CREATE TABLE IF NOT EXISTS clusters (
    id INTEGER PRIMARY KEY,
    size INTEGER NOT NULL,
    user_ids INTEGER NOT NULL,
    newest TEXT
);
CREATE TABLE IF NOT EXISTS links (
    id INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL,
    a INTEGER NOT NULL,
    b INTEGER NOT NULL,
    kind TEXT NOT NULL,
    ord TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    message_id TEXT NOT NULL,
    status TEXT NOT NULL,
    cluster INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS links_cluster ON links (cluster);
CREATE INDEX IF NOT EXISTS links_a ON links (a);
CREATE INDEX IF NOT EXISTS links_b ON links (b);
CREATE TABLE IF NOT EXISTS identifier_traits (
    identifier INTEGER NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    ord TEXT NOT NULL,
    PRIMARY KEY (identifier, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS identifier_groups (
    identifier INTEGER NOT NULL,
    group_id TEXT NOT NULL,
    ord TEXT NOT NULL,
    PRIMARY KEY (identifier, group_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_traits (
    group_id TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    ord TEXT NOT NULL,
    PRIMARY KEY (group_id, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS event_links (
    seq INTEGER PRIMARY KEY,
    identifier INTEGER,
    ord TEXT NOT NULL,
    timestamp TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS event_links_identifier ON event_links (identifier, ord);
CREATE TABLE IF NOT EXISTS warnings (
    id INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    message_id TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS state (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""

_TABLES: Final = (
    "identifiers",
    "profiles",
    "clusters",
    "links",
    "identifier_traits",
    "identifier_groups",
    "group_traits",
    "event_links",
    "warnings",
    "state",
)


def _dumps(value: JSON) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def _identifier(type_: str, value: str) -> Identifier:
    """An identifier read back from the database, where ``type`` is one of the three types."""
    return Identifier(cast(IdentifierType, type_), value)


class _Batch:
    """What one ``apply`` writes once at its end: rows repeated per event go in one statement each.

    An identifier's counters and the traits it saw are combined by order-insensitive rules (sums,
    minimum, maximum, the latest order key), so writing them at the end of the batch gives the
    same result as writing them event by event.
    """

    def __init__(self) -> None:
        self.event_links: list[tuple[int, int | None, str, str]] = []
        self.activity: dict[int, list[Any]] = {}
        self.traits: list[tuple[int, str, str, str]] = []
        self.groups: list[tuple[int, str, str]] = []
        self.group_traits: list[tuple[str, str, str, str]] = []
        self.warnings: list[tuple[int, str, str, str]] = []

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
        self.traits.extend((node, name, _dumps(v), key) for name, v in identity.traits.items())
        if identity.group_id is not None:
            self.groups.append((node, identity.group_id, key))
            self.group_traits.extend(
                (identity.group_id, name, _dumps(value), key)
                for name, value in identity.group_traits.items()
            )

    def write(self, db: sqlite3.Connection) -> None:
        """Write everything recorded, inside the batch's transaction."""
        db.executemany(
            "INSERT OR IGNORE INTO event_links (seq, identifier, ord, timestamp) "
            "VALUES (?, ?, ?, ?)",
            self.event_links,
        )
        db.executemany(
            "UPDATE identifiers SET event_count = event_count + ?, "
            "first_seen = min(coalesce(first_seen, ?), ?), "
            "last_seen = max(coalesce(last_seen, ?), ?) WHERE id = ?",
            [
                (count, first, first, last, last, node)
                for node, (count, first, last) in self.activity.items()
            ],
        )
        db.executemany(
            "UPDATE profiles SET last_seen = max(coalesce(last_seen, ?), ?) "
            "WHERE id = (SELECT profile FROM identifiers WHERE id = ?)",
            [(last, last, node) for node, (_, _, last) in self.activity.items()],
        )
        db.executemany(
            "INSERT INTO identifier_traits (identifier, name, value, ord) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (identifier, name) DO UPDATE SET value = excluded.value, "
            "ord = excluded.ord WHERE (excluded.ord, excluded.value) > "
            "(identifier_traits.ord, identifier_traits.value)",
            self.traits,
        )
        db.executemany(
            "INSERT INTO identifier_groups (identifier, group_id, ord) VALUES (?, ?, ?) "
            "ON CONFLICT (identifier, group_id) DO UPDATE SET ord = max(ord, excluded.ord)",
            self.groups,
        )
        db.executemany(
            "INSERT INTO group_traits (group_id, name, value, ord) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (group_id, name) DO UPDATE SET value = excluded.value, "
            "ord = excluded.ord WHERE (excluded.ord, excluded.value) > "
            "(group_traits.ord, group_traits.value)",
            self.group_traits,
        )
        db.executemany(
            "INSERT INTO warnings (seq, kind, message_id, detail) VALUES (?, ?, ?, ?)",
            self.warnings,
        )


class SQLiteProfileStore:
    """:class:`~audience.resolution.store.ProfileStore` on one SQLite file.

    ``link_email`` makes identify traits' ``email`` an identifier that links profiles. Left as
    ``None``, the store uses the choice recorded by the last ``clear(link_email=...)`` (off until
    one is recorded), so every process that opens the file resolves by the same rules.
    """

    def __init__(self, path: Path | str, *, link_email: bool | None = None) -> None:
        self.path = Path(path)
        self._link_email_given = link_email
        self.link_email = bool(link_email)
        self._write_lock = threading.Lock()
        self._connections_lock = threading.Lock()
        self._readers: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._all: list[sqlite3.Connection] = []
        self._closed = False
        self._node_ids: dict[Identifier, int] = {}
        self._seen_generation = -1
        try:
            self._writer = self._connect()
            # The writer walks the identifier indexes for every event: keep them in memory.
            self._writer.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
            self._writer.executescript(_SCHEMA)
            self._check_generation(self._writer)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the profile store {self.path}: {exc}") from exc

    @classmethod
    def in_directory(
        cls, data_dir: Path | str, *, link_email: bool | None = None
    ) -> SQLiteProfileStore:
        """The store in its own file inside the data directory."""
        directory = Path(data_dir)
        directory.mkdir(parents=True, exist_ok=True)
        return cls(directory / FILENAME, link_email=link_email)

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA busy_timeout=10000")
        self._all.append(connection)
        return connection

    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        try:
            connection = self._readers.get_nowait()
        except queue.Empty:
            with self._connections_lock:
                connection = self._connect()
        try:
            yield connection
        finally:
            self._readers.put(connection)

    def close(self) -> None:
        """Close every connection this store opened."""
        if self._closed:
            return
        self._closed = True
        with self._write_lock, self._connections_lock:
            for connection in self._all:
                connection.close()
            self._all.clear()

    # -- the write side -------------------------------------------------------------------

    def cursor(self) -> int:
        with self._reader() as db:
            row = db.execute("SELECT value FROM state WHERE name = 'cursor'").fetchone()
        return int(row[0]) if row else 0

    def apply(self, events: Sequence[StoredEvent]) -> None:
        if not events:
            return
        with self._write_lock:
            db = self._writer
            try:
                db.execute("BEGIN IMMEDIATE")
                row = db.execute("SELECT value FROM state WHERE name = 'cursor'").fetchone()
                cursor = int(row[0]) if row else 0
                self._check_generation(db)
                batch = _Batch()
                for event in sorted(events, key=lambda e: e.seq):
                    if event.seq <= cursor:
                        continue
                    self._apply_event(db, event, batch)
                    cursor = event.seq
                batch.write(db)
                db.execute(
                    "INSERT INTO state (name, value) VALUES ('cursor', ?) "
                    "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    (cursor,),
                )
                db.execute("COMMIT")
            except BaseException as exc:
                self._node_ids.clear()
                if db.in_transaction:
                    db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StorageError(f"cannot apply events to the profile store: {exc}") from exc
                raise

    def clear(self, *, link_email: bool | None = None) -> None:
        """Forget every profile; ``link_email`` also records whether emails link from now on."""
        with self._write_lock:
            db = self._writer
            db.execute("BEGIN IMMEDIATE")
            generation = self._generation(db) + 1
            recorded = self._state(db, "link_email")
            for table in _TABLES:
                db.execute(f"DELETE FROM {table}")
            db.executemany(
                "INSERT INTO state (name, value) VALUES (?, ?)",
                [
                    ("generation", generation),
                    ("link_email", int(link_email) if link_email is not None else recorded),
                ],
            )
            db.execute("COMMIT")
            self._node_ids.clear()
            self._check_generation(db)

    @staticmethod
    def _state(db: sqlite3.Connection, name: str) -> int:
        row = db.execute("SELECT value FROM state WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    @classmethod
    def _generation(cls, db: sqlite3.Connection) -> int:
        return cls._state(db, "generation")

    def _check_generation(self, db: sqlite3.Connection) -> None:
        """Catch up with a ``clear`` made through another handle since the last batch: forget
        remembered row ids and take up the recorded ``link_email`` choice."""
        generation = self._generation(db)
        if generation != self._seen_generation:
            self._node_ids.clear()
            self._seen_generation = generation
            if self._link_email_given is None:
                self.link_email = bool(self._state(db, "link_email"))

    def _apply_event(self, db: sqlite3.Connection, event: StoredEvent, batch: _Batch) -> None:
        identity = identity_of(event.message, link_email=self.link_email)
        nodes = {identifier: self._node(db, identifier) for identifier in identity.identifiers}
        message_id = str(event.message.get("messageId") or "")
        attributed = nodes[identity.identifier] if identity.identifier else None
        batch.event_links.append((event.seq, attributed, identity.order_key, identity.timestamp))
        for junk in identity.junk:
            detail = f"{junk.field} {junk.value!r} ignored"
            batch.warnings.append((event.seq, "junk_id", message_id, detail))
        if attributed is None:
            detail = "no usable userId or anonymousId"
            batch.warnings.append((event.seq, "no_identifier", message_id, detail))
        else:
            batch.record(attributed, identity)
        for link in sorted(identity.links, key=link_order):
            self._apply_link(db, event.seq, link, nodes[link.a], nodes[link.b], identity)

    def _node(self, db: sqlite3.Connection, identifier: Identifier) -> int:
        """The row id of ``identifier``, creating it as a profile and cluster of its own."""
        known = self._node_ids.get(identifier)
        if known is not None:
            return known
        row = db.execute(
            "SELECT id FROM identifiers WHERE type = ? AND value = ?",
            (identifier.type, identifier.value),
        ).fetchone()
        if row:
            return self._remember(identifier, int(row[0]))
        is_user = identifier.type == "user_id"
        cluster = db.execute(
            "INSERT INTO clusters (size, user_ids, newest) VALUES (1, ?, NULL)", (int(is_user),)
        ).lastrowid
        profile = db.execute(
            "INSERT INTO profiles (public_id, anchor_type, anchor_value, cluster, person, size) "
            "VALUES (?, ?, ?, ?, ?, 1)",
            (
                identifier.key,
                identifier.type,
                identifier.value,
                cluster,
                identifier.value if is_user else None,
            ),
        ).lastrowid
        node_id = db.execute(
            "INSERT INTO identifiers (type, value, key, profile, cluster) VALUES (?, ?, ?, ?, ?)",
            (identifier.type, identifier.value, identifier.key, profile, cluster),
        ).lastrowid
        if node_id is None:
            raise StorageError("SQLite did not return a row id")
        return self._remember(identifier, node_id)

    def _remember(self, identifier: Identifier, node_id: int) -> int:
        if len(self._node_ids) >= NODE_CACHE:
            self._node_ids.clear()
        self._node_ids[identifier] = node_id
        return node_id

    def _apply_link(
        self,
        db: sqlite3.Connection,
        seq: int,
        link: Link,
        a: int,
        b: int,
        identity: EventIdentity,
    ) -> None:
        sides = {
            row[0]: row[1:]
            for row in db.execute(
                "SELECT i.id, i.cluster, p.id, p.person FROM identifiers i "
                "JOIN profiles p ON p.id = i.profile WHERE i.id IN (?, ?)",
                (a, b),
            )
        }
        cluster_a, profile_a, person_a = sides[a]
        cluster_b, profile_b, person_b = sides[b]
        cluster = self._join_clusters(db, cluster_a, cluster_b)
        user_ids, newest = db.execute(
            "SELECT user_ids, newest FROM clusters WHERE id = ?", (cluster,)
        ).fetchone()
        order = link_order(link)
        link_id = db.execute(
            "INSERT INTO links (seq, a, b, kind, ord, timestamp, message_id, status, cluster) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
            (seq, a, b, link.kind, order, identity.timestamp, link.message_id, cluster),
        ).lastrowid
        db.execute(
            "UPDATE clusters SET newest = max(coalesce(newest, ?), ?) WHERE id = ?",
            (order, order, cluster),
        )
        if needs_recompute(link, user_ids, newest):
            self._recompute(db, cluster)
            return
        status = decide(link, person_a, person_b, profile_a == profile_b)
        if status == "joined":
            self._merge_profiles(db, profile_a, profile_b)
        db.execute("UPDATE links SET status = ? WHERE id = ?", (status, link_id))

    def _join_clusters(self, db: sqlite3.Connection, first: int, second: int) -> int:
        if first == second:
            return first
        rows = {
            row[0]: row
            for row in db.execute(
                "SELECT id, size, user_ids, newest FROM clusters WHERE id IN (?, ?)",
                (first, second),
            )
        }
        keep, drop = (first, second) if rows[first][1] >= rows[second][1] else (second, first)
        newest = max((n for n in (rows[first][3], rows[second][3]) if n is not None), default=None)
        db.execute(
            "UPDATE clusters SET size = ?, user_ids = ?, newest = ? WHERE id = ?",
            (rows[first][1] + rows[second][1], rows[first][2] + rows[second][2], newest, keep),
        )
        for table in ("identifiers", "profiles", "links"):
            db.execute(f"UPDATE {table} SET cluster = ? WHERE cluster = ?", (keep, drop))
        db.execute("DELETE FROM clusters WHERE id = ?", (drop,))
        return keep

    def _merge_profiles(self, db: sqlite3.Connection, first: int, second: int) -> None:
        rows = {
            row[0]: row
            for row in db.execute(
                "SELECT id, anchor_type, anchor_value, person, size, last_seen FROM profiles "
                "WHERE id IN (?, ?)",
                (first, second),
            )
        }
        keep, drop = (first, second) if rows[first][4] >= rows[second][4] else (second, first)
        anchor = best_identifier(_identifier(rows[p][1], rows[p][2]) for p in (first, second))
        seen = [rows[p][5] for p in (first, second) if rows[p][5] is not None]
        db.execute("UPDATE identifiers SET profile = ? WHERE profile = ?", (keep, drop))
        db.execute("DELETE FROM profiles WHERE id = ?", (drop,))
        db.execute(
            "UPDATE profiles SET public_id = ?, anchor_type = ?, anchor_value = ?, person = ?, "
            "size = ?, last_seen = ? WHERE id = ?",
            (
                anchor.key,
                anchor.type,
                anchor.value,
                rows[first][3] or rows[second][3],
                rows[first][4] + rows[second][4],
                max(seen, default=None),
                keep,
            ),
        )

    def _recompute(self, db: sqlite3.Connection, cluster: int) -> None:
        """Rebuild every profile of one cluster from its links, in order-key order."""
        nodes: dict[int, Identifier] = {}
        seen: dict[Identifier, str | None] = {}
        for id_, type_, value, last_seen in db.execute(
            "SELECT id, type, value, last_seen FROM identifiers WHERE cluster = ?", (cluster,)
        ):
            nodes[id_] = _identifier(type_, value)
            seen[nodes[id_]] = last_seen
        link_ids: list[int] = []
        links: list[Link] = []
        for link_id, a, b, kind, ord_, message_id in db.execute(
            "SELECT id, a, b, kind, ord, message_id FROM links WHERE cluster = ?", (cluster,)
        ):
            link_ids.append(link_id)
            order_key = ord_.split("\x1f", 4)
            link_kind: LinkKind = "alias" if kind == "alias" else "identify"
            links.append(
                Link(nodes[a], nodes[b], link_kind, "\x1f".join(order_key[:4]), str(message_id))
            )
        resolution = resolve_components(nodes.values(), links)
        classes = person_classes(links)
        ids = {identifier: id_ for id_, identifier in nodes.items()}
        db.execute("DELETE FROM profiles WHERE cluster = ?", (cluster,))
        for members in resolution.components():
            anchor = best_identifier(members)
            users = [m for m in members if m.type == "user_id"]
            person = min((classes.get(u, u).value for u in users), default=None)
            last_seen = max((s for m in members if (s := seen[m]) is not None), default=None)
            profile = db.execute(
                "INSERT INTO profiles (public_id, anchor_type, anchor_value, cluster, person, "
                "size, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (anchor.key, anchor.type, anchor.value, cluster, person, len(members), last_seen),
            ).lastrowid
            db.executemany(
                "UPDATE identifiers SET profile = ? WHERE id = ?",
                [(profile, ids[m]) for m in members],
            )
        db.executemany(
            "UPDATE links SET status = ? WHERE id = ?",
            list(zip(resolution.statuses, link_ids, strict=True)),
        )

    # -- the read side --------------------------------------------------------------------

    def lookup(self, identifier: Identifier) -> Profile | None:
        """The profile holding ``identifier``; an email also finds a profile by its trait."""
        with self._reader() as db:
            row = db.execute(
                "SELECT profile FROM identifiers WHERE type = ? AND value = ?",
                (identifier.type, identifier.value),
            ).fetchone()
            if row is None and identifier.type == "email":
                # Without email linking, an email is found through the ``email`` trait.
                row = db.execute(
                    "SELECT i.profile FROM identifier_traits t "
                    "JOIN identifiers i ON i.id = t.identifier "
                    "WHERE t.name = 'email' AND lower(t.value) = ? ORDER BY t.ord DESC LIMIT 1",
                    (_dumps(identifier.value.lower()),),
                ).fetchone()
            return self._profile(db, row[0]) if row else None

    def get(self, profile_id: str) -> Profile | None:
        with self._reader() as db:
            internal = self._internal_id(db, profile_id)
            return self._profile(db, internal) if internal is not None else None

    def _internal_id(self, db: sqlite3.Connection, profile_id: str) -> int | None:
        row = db.execute("SELECT id FROM profiles WHERE public_id = ?", (profile_id,)).fetchone()
        if row is None:
            row = db.execute(
                "SELECT profile FROM identifiers WHERE key = ?", (profile_id,)
            ).fetchone()
        return int(row[0]) if row else None

    def _profile(self, db: sqlite3.Connection, internal: int) -> Profile:
        public_id = db.execute(
            "SELECT public_id FROM profiles WHERE id = ?", (internal,)
        ).fetchone()
        identifiers = [
            _identifier(type_, value)
            for type_, value in db.execute(
                "SELECT type, value FROM identifiers WHERE profile = ?", (internal,)
            )
        ]
        identifiers.sort(key=lambda identifier: identifier.rank)
        first_seen, last_seen, count = db.execute(
            "SELECT min(first_seen), max(last_seen), coalesce(sum(event_count), 0) "
            "FROM identifiers WHERE profile = ?",
            (internal,),
        ).fetchone()
        traits = fold_traits(
            TraitValue(name, json.loads(value), ord_)
            for name, value, ord_ in db.execute(
                "SELECT t.name, t.value, t.ord FROM identifier_traits t "
                "JOIN identifiers i ON i.id = t.identifier WHERE i.profile = ?",
                (internal,),
            )
        )
        group_ids = sorted(
            {
                row[0]
                for row in db.execute(
                    "SELECT g.group_id FROM identifier_groups g "
                    "JOIN identifiers i ON i.id = g.identifier WHERE i.profile = ?",
                    (internal,),
                )
            }
        )
        groups = tuple(
            GroupMembership(
                group_id,
                {
                    name: value
                    for name, raw in db.execute(
                        "SELECT name, value FROM group_traits WHERE group_id = ? ORDER BY name",
                        (group_id,),
                    )
                    if (value := json.loads(raw)) is not None
                },
            )
            for group_id in group_ids
        )
        return Profile(
            id=public_id[0],
            identifiers=tuple(identifiers[:MAX_LISTED_IDENTIFIERS]),
            identifier_count=len(identifiers),
            traits=traits,
            groups=groups,
            first_seen=first_seen,
            last_seen=last_seen,
            event_count=int(count),
        )

    def events(self, profile_id: str, limit: int = 1000, offset: int = 0) -> list[LinkedEvent]:
        with self._reader() as db:
            internal = self._internal_id(db, profile_id)
            if internal is None:
                return []
            return [
                LinkedEvent(seq, _identifier(type_, value), timestamp)
                for seq, type_, value, timestamp in db.execute(
                    "SELECT e.seq, i.type, i.value, e.timestamp FROM event_links e "
                    "JOIN identifiers i ON i.id = e.identifier WHERE i.profile = ? "
                    "ORDER BY e.ord, e.seq LIMIT ? OFFSET ?",
                    (internal, limit, offset),
                )
            ]

    def search(self, query: str, limit: int = 50) -> list[Profile]:
        with self._reader() as db:
            text = query.strip()
            if not text:
                rows = db.execute(
                    "SELECT id FROM profiles ORDER BY last_seen DESC, id DESC LIMIT ?", (limit,)
                ).fetchall()
            else:
                pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                pattern += "%"
                rows = db.execute(
                    "SELECT p.id FROM profiles p WHERE p.id IN ("
                    " SELECT profile FROM identifiers WHERE value = ? OR value LIKE ? ESCAPE '\\'"
                    " UNION SELECT i.profile FROM identifier_traits t"
                    " JOIN identifiers i ON i.id = t.identifier"
                    " WHERE t.value LIKE ? ESCAPE '\\') "
                    "ORDER BY p.last_seen DESC, p.id DESC LIMIT ?",
                    (text, pattern, pattern, limit),
                ).fetchall()
            return [self._profile(db, row[0]) for row in rows]

    def merges(self, profile_id: str) -> list[MergeRecord]:
        with self._reader() as db:
            internal = self._internal_id(db, profile_id)
            if internal is None:
                return []
            rows = db.execute(
                f"{_MERGE_SELECT} WHERE l.status IN ('joined', 'refused') AND l.id IN ("
                " SELECT l2.id FROM links l2 JOIN identifiers i ON i.id = l2.a WHERE i.profile = ?"
                " UNION SELECT l3.id FROM links l3 JOIN identifiers i ON i.id = l3.b"
                " WHERE i.profile = ?) ORDER BY l.ord",
                (internal, internal),
            ).fetchall()
        return [_merge_record(row) for row in rows]

    def warnings(self, limit: int = 100) -> list[IdentityWarning]:
        with self._reader() as db:
            refused = [
                _merge_record(row)
                for row in db.execute(
                    f"{_MERGE_SELECT} WHERE l.status = 'refused' ORDER BY l.seq DESC LIMIT ?",
                    (limit,),
                )
            ]
            others = [
                IdentityWarning(kind, seq, message_id, detail)
                for kind, seq, message_id, detail in db.execute(
                    "SELECT kind, seq, message_id, detail FROM warnings ORDER BY seq DESC LIMIT ?",
                    (limit,),
                )
            ]
        merged = [
            *(IdentityWarning("merge_refused", r.seq, r.message_id, r.reason) for r in refused),
            *others,
        ]
        merged.sort(key=lambda warning: warning.seq, reverse=True)
        return merged[:limit]


_MERGE_SELECT: Final = (
    "SELECT ia.type, ia.value, ib.type, ib.value, l.kind, l.status, l.timestamp, l.message_id, "
    "l.seq FROM links l JOIN identifiers ia ON ia.id = l.a JOIN identifiers ib ON ib.id = l.b"
)


def _merge_record(row: tuple[Any, ...]) -> MergeRecord:
    a_type, a_value, b_type, b_value, kind, status, timestamp, message_id, seq = row
    return MergeRecord(
        _identifier(a_type, a_value),
        _identifier(b_type, b_value),
        kind,
        status,
        timestamp,
        message_id,
        seq,
    )
