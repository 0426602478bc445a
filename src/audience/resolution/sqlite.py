"""The SQLite profile store: the identity graph in its own database file, ``profiles.sqlite3``.

One writer (the resolver) applies batches of events; each batch and the cursor that records it
commit in one transaction, so a restart resumes exactly after the last batch. Readers use their
own connections (WAL lets them read while the writer writes).

The tables are described in :mod:`audience.resolution.schema`; reads live in
:mod:`audience.resolution.queries`.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from audience.errors import StorageError
from audience.eventlog import StoredEvent
from audience.resolution import queries
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
from audience.resolution.identifiers import Identifier
from audience.resolution.profiles import (
    IdentityWarning,
    LinkedEvent,
    MergeRecord,
    Profile,
    best_identifier,
)
from audience.resolution.schema import SCHEMA, TABLES

logger = logging.getLogger(__name__)

FILENAME: Final = "profiles.sqlite3"
"""The file name of the profile database inside the data directory."""

LARGE_PROFILE: Final = 1000
"""Identifiers from which a profile is reported as too large (again at every power of ten)."""

WRITER_CACHE_KIB: Final = 128 * 1024
"""Page cache of the writer connection (SQLite's default is 2 MiB)."""

NODE_CACHE: Final = 500_000
"""Identifier row ids the writer remembers (ids never change until the store is cleared)."""


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
        self.traits.extend(
            (node, name, queries.dumps(v), key) for name, v in identity.traits.items()
        )
        if identity.group_id is not None:
            self.groups.append((node, identity.group_id, key))
            self.group_traits.extend(
                (identity.group_id, name, queries.dumps(value), key)
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
            self._writer.executescript(SCHEMA)
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
            for table in TABLES:
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
            before, after = self._merge_profiles(db, profile_a, profile_b)
            self._warn_if_large(db, seq, link.message_id, before, after, profile_a, profile_b)
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

    def _warn_if_large(
        self,
        db: sqlite3.Connection,
        seq: int,
        message_id: str,
        before: int,
        after: int,
        *profiles: int,
    ) -> None:
        """Warn when a join makes a profile reach LARGE_PROFILE, or a power of ten above it."""
        threshold = LARGE_PROFILE
        while threshold * 10 <= after:
            threshold *= 10
        if not before < threshold <= after:
            return
        row = db.execute(
            "SELECT anchor_type, anchor_value FROM profiles WHERE id IN (?, ?)", profiles
        ).fetchone()
        detail = (
            f"the profile of {row[0]} {row[1]!r} holds {after:,} identifiers: a user id shared by "
            "many visitors (a test account, a bot, a shared device) joins people who are not one"
        )
        db.execute(
            "INSERT INTO warnings (seq, kind, message_id, detail) "
            "VALUES (?, 'large_profile', ?, ?)",
            (seq, message_id, detail),
        )

    def _merge_profiles(self, db: sqlite3.Connection, first: int, second: int) -> tuple[int, int]:
        """Join two profiles; returns the larger one's size before and the joined size."""
        rows = {
            row[0]: row
            for row in db.execute(
                "SELECT id, anchor_type, anchor_value, person, size, last_seen FROM profiles "
                "WHERE id IN (?, ?)",
                (first, second),
            )
        }
        keep, drop = (first, second) if rows[first][4] >= rows[second][4] else (second, first)
        anchor = best_identifier(
            queries.identifier(rows[p][1], rows[p][2]) for p in (first, second)
        )
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
        return max(rows[first][4], rows[second][4]), rows[first][4] + rows[second][4]

    def _recompute(self, db: sqlite3.Connection, cluster: int) -> None:
        """Rebuild every profile of one cluster from its links, in order-key order."""
        nodes: dict[int, Identifier] = {}
        seen: dict[Identifier, str | None] = {}
        for id_, type_, value, last_seen in db.execute(
            "SELECT id, type, value, last_seen FROM identifiers WHERE cluster = ?", (cluster,)
        ):
            nodes[id_] = queries.identifier(type_, value)
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

    # -- the read side: each method borrows a reader connection for one query module call --

    def lookup(self, identifier: Identifier) -> Profile | None:
        """The profile holding ``identifier``; an email also finds a profile by its trait."""
        with self._reader() as db:
            internal = queries.holder(db, identifier)
            return queries.profile(db, internal) if internal is not None else None

    def get(self, profile_id: str) -> Profile | None:
        with self._reader() as db:
            internal = queries.internal_id(db, profile_id)
            return queries.profile(db, internal) if internal is not None else None

    def events(
        self, profile_id: str, limit: int = 1000, after: tuple[str, int] | None = None
    ) -> list[LinkedEvent]:
        with self._reader() as db:
            internal = queries.internal_id(db, profile_id)
            if internal is None:
                return []
            return queries.linked_events(db, internal, limit, after)

    def events_before(
        self, profile_id: str, before: tuple[str, int], limit: int
    ) -> list[LinkedEvent]:
        with self._reader() as db:
            internal = queries.internal_id(db, profile_id)
            if internal is None:
                return []
            return queries.linked_events_before(db, internal, before, limit)

    def search(self, query: str, limit: int = 50) -> list[Profile]:
        with self._reader() as db:
            return [queries.profile(db, internal) for internal in queries.search(db, query, limit)]

    def merges(self, profile_id: str) -> list[MergeRecord]:
        with self._reader() as db:
            internal = queries.internal_id(db, profile_id)
            return queries.merges(db, internal) if internal is not None else []

    def warnings(self, limit: int = 100) -> list[IdentityWarning]:
        with self._reader() as db:
            return queries.warnings(db, limit)
