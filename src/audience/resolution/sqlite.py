"""The SQLite profile store: the identity graph in its own database file, ``profiles.sqlite3``.

One writer (the resolver) applies batches of events; each batch and the cursor that records it
commit in one transaction, so a restart resumes exactly after the last batch. Readers use their
own connections (WAL lets them read while the writer writes).

The tables are described in :mod:`audience.resolution.schema`; links are applied by
:class:`~audience.resolution.linking.Linker` (a bounded amount of work per event, see
:mod:`audience.identity.graph`); reads live in :mod:`audience.resolution.queries`.
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
from audience.identity.graph import EventIdentity, Limits, identity_of, link_order
from audience.identity.identifiers import Identifier
from audience.identity.profiles import IdentityWarning, LinkedEvent, MergeRecord, Profile
from audience.resolution import queries
from audience.resolution.linking import Linker
from audience.resolution.schema import REBUILDING_MIGRATION, TABLES
from audience.storage.sqlite_migrations import migrate

logger = logging.getLogger(__name__)

FILENAME: Final = "profiles.sqlite3"
"""The file name of the profile database inside the data directory."""

WRITER_CACHE_KIB: Final = 128 * 1024
"""Page cache of the writer connection (SQLite's default is 2 MiB)."""

NODE_CACHE: Final = 500_000
"""Identifier row ids the writer remembers (ids never change until the store is cleared)."""

LOOKUP_CHUNK: Final = 500
"""Identifier keys looked up per query at the start of a batch."""


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

    ``limits`` (:class:`~audience.identity.graph.Limits`) are rules too: the store resolves by
    the limits recorded with its profiles. The given ones are recorded by the first batch of an
    empty store and by ``clear``; until then a store built with other limits keeps them (and says
    so in the log).
    """

    def __init__(
        self, path: Path | str, *, link_email: bool | None = None, limits: Limits | None = None
    ) -> None:
        self.path = Path(path)
        self._take_rules(link_email, limits)
        self._write_lock = threading.Lock()
        self._connections_lock = threading.Lock()
        self._readers: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._all: list[sqlite3.Connection] = []
        self._closed = False
        try:
            self._writer = self._connect()
            # The writer walks the identifier indexes for every event: keep them in memory.
            self._writer.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
            self._prepare(self._writer)
            self._check_generation(self._writer)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the profile store {self.path}: {exc}") from exc

    def _take_rules(self, link_email: bool | None, limits: Limits | None) -> None:
        self._link_email_given = link_email
        self.link_email = bool(link_email)
        self._limits_given = limits
        self.limits = limits or Limits()
        self._limits_recorded = False
        self._node_ids: dict[Identifier, int] = {}
        self._seen_generation = -1

    @classmethod
    def in_directory(
        cls, data_dir: Path | str, *, link_email: bool | None = None, limits: Limits | None = None
    ) -> SQLiteProfileStore:
        """The store in its own file inside the data directory."""
        directory = Path(data_dir)
        directory.mkdir(parents=True, exist_ok=True)
        return cls(directory / FILENAME, link_email=link_email, limits=limits)

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA busy_timeout=10000")
        self._all.append(connection)
        return connection

    def _prepare(self, db: sqlite3.Connection) -> None:
        """Create the tables, or bring a file of an older layout to this one.

        Profiles are derived from the event log: an older file keeps its recorded choices and
        forgets its profiles (migration ``profiles/0002``), so the resolver rebuilds them from
        the first event.
        """
        existing = db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'")
        had_tables = bool(existing.fetchone()[0])
        applied = migrate(db, "profiles", self.path)
        if had_tables and REBUILDING_MIGRATION in applied:
            logger.warning(
                "the profile store %s had an older layout: its profiles are rebuilt from the "
                "event log",
                self.path,
            )

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
                self._apply_batch(db, events)
                db.execute("COMMIT")
            except BaseException as exc:
                self._node_ids.clear()
                if db.in_transaction:
                    db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StorageError(f"cannot apply events to the profile store: {exc}") from exc
                raise

    def _apply_batch(self, db: sqlite3.Connection, events: Sequence[StoredEvent]) -> None:
        """Apply the events past the cursor and move it, inside the caller's transaction."""
        row = db.execute("SELECT value FROM state WHERE name = 'cursor'").fetchone()
        cursor = int(row[0]) if row else 0
        self._check_generation(db)
        self._record_limits(db)
        batch = _Batch()
        linker = Linker(db, self.limits, batch.warnings)
        pending = [
            (event, identity_of(event.message, link_email=self.link_email))
            for event in sorted(events, key=lambda e: e.seq)
            if event.seq > cursor
        ]
        self._look_up(db, {i for _, identity in pending for i in identity.identifiers})
        for event, identity in pending:
            self._apply_event(db, event, identity, batch, linker)
            cursor = event.seq
        linker.settle()
        batch.write(db)
        db.execute(
            "INSERT INTO state (name, value) VALUES ('cursor', ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (cursor,),
        )

    def clear(self, *, link_email: bool | None = None) -> None:
        """Forget every profile; ``link_email`` also records whether emails link from now on.

        The limits given to this store are recorded too (the recorded ones when none were).
        """
        with self._write_lock:
            db = self._writer
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT INTO state (name, value) VALUES (?, ?)", self._cleared_state(db, link_email)
            )
            db.execute("COMMIT")
            self._node_ids.clear()
            self._check_generation(db)

    def _cleared_state(
        self, db: sqlite3.Connection, link_email: bool | None
    ) -> list[tuple[str, int]]:
        """Empty every table and return the state rows to write back: the rules and generation."""
        generation = self._generation(db) + 1
        recorded = self._state(db, "link_email")
        limits = self._limits_given or self.limits
        self._empty_tables(db)
        return [
            ("generation", generation),
            ("link_email", int(link_email) if link_email is not None else recorded),
            ("shared_after", limits.shared_after),
            ("unit_links", limits.unit_links),
        ]

    def _empty_tables(self, db: sqlite3.Connection) -> None:
        for table in TABLES:
            db.execute(f"DELETE FROM {table}")

    @staticmethod
    def _state(db: sqlite3.Connection, name: str) -> int:
        row = db.execute("SELECT value FROM state WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    @classmethod
    def _generation(cls, db: sqlite3.Connection) -> int:
        return cls._state(db, "generation")

    def _check_generation(self, db: sqlite3.Connection) -> None:
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
            rows = dict(
                db.execute(
                    "SELECT name, value FROM state WHERE name IN ('shared_after', 'unit_links')"
                ).fetchall()
            )
            if len(rows) == 2:
                recorded = Limits(int(rows["shared_after"]), int(rows["unit_links"]))
                if self._limits_given not in (None, recorded):
                    logger.warning(
                        "the profiles were built with %s; the limits given (%s) apply from the "
                        "next rebuild (audience resolve --rebuild)",
                        recorded,
                        self._limits_given,
                    )
                self.limits = recorded
                self._limits_recorded = True

    def _record_limits(self, db: sqlite3.Connection) -> None:
        """Record the limits in force if the store has none recorded yet (inside a batch)."""
        if self._limits_recorded:
            return
        db.executemany(
            "INSERT INTO state (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
            [("shared_after", self.limits.shared_after), ("unit_links", self.limits.unit_links)],
        )
        # Another process may have recorded first: resolve by what is recorded.
        self._check_generation(db)

    def _apply_event(
        self,
        db: sqlite3.Connection,
        event: StoredEvent,
        identity: EventIdentity,
        batch: _Batch,
        linker: Linker,
    ) -> None:
        nodes = {identifier: self._node(identifier, linker) for identifier in identity.identifiers}
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
            linker.link(event.seq, link, nodes[link.a], nodes[link.b], identity.timestamp)

    def _look_up(self, db: sqlite3.Connection, identifiers: set[Identifier]) -> None:
        """Remember the row ids of the batch's identifiers that exist, a few queries in all."""
        wanted = {i.key: i for i in identifiers if i not in self._node_ids}
        if len(self._node_ids) + len(wanted) > NODE_CACHE:
            self._node_ids.clear()
            wanted = {i.key: i for i in identifiers}
        keys = list(wanted)
        for start in range(0, len(keys), LOOKUP_CHUNK):
            chunk = keys[start : start + LOOKUP_CHUNK]
            marks = ", ".join("?" * len(chunk))
            for node, key in db.execute(
                f"SELECT id, key FROM identifiers WHERE key IN ({marks})", chunk
            ):
                self._node_ids[wanted[key]] = int(node)

    def _node(self, identifier: Identifier, linker: Linker) -> int:
        """The row id of ``identifier`` (looked up for the batch), creating it if it is new."""
        known = self._node_ids.get(identifier)
        if known is None:
            known = self._node_ids[identifier] = linker.create(identifier)
        return known

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
