"""Delivery state: each destination's settings, cursor, open batch and dead letters, kept durably.

The dispatcher moves a destination forward in two durable steps. ``claim`` records a batch
(the positions of its events) and advances the cursor past it in one transaction; after the
batch is sent, ``delivered`` removes it. A process that dies between the two finds the batch
still open when it restarts and sends it again: nothing is lost, and nothing is sent twice
except that one batch, whose events keep their ``messageId``.

``DeliveryStore`` is the contract; ``SqliteDeliveryStore`` keeps it in its own SQLite file
(``destinations.sqlite3`` in the data folder). A PostgreSQL store meets the same contract;
both run the statements of ``SqlDeliveryStore``, spelled with their driver's placeholder.
"""

from __future__ import annotations

import fcntl
import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, ClassVar, Final, Literal, Protocol

from audience.destinations.base import DestinationConfig
from audience.errors import ConfigError, StorageError
from audience.storage.sqlite_migrations import migrate

FILE_NAME: Final = "destinations.sqlite3"
"""The state database's file name inside the data folder."""

BatchState = Literal["pending", "dead"]


@dataclass(frozen=True)
class Batch:
    """A claimed batch: the event positions it holds and how its delivery is going.

    ``next_attempt_at`` is a Unix time in seconds (wall clock, so it survives restarts).
    """

    id: int
    destination: str
    seqs: tuple[int, ...]
    state: BatchState
    attempts: int
    next_attempt_at: float
    last_error: str | None
    created_at: float


@dataclass(frozen=True)
class DeliveryStats:
    """What a destination has done so far, for ``status`` and the admin API."""

    cursor: int
    pending_batches: int
    pending_events: int
    dead_batches: int
    dead_events: int
    delivered_events: int
    last_delivered_at: float | None
    last_error: str | None
    last_error_at: float | None


class DeliveryStore(Protocol):
    """Durable destination settings and delivery progress."""

    def add(self, config: DestinationConfig, cursor: int, now: float) -> None:
        """Add a destination that starts after position ``cursor``; the name must be new."""
        ...

    def remove(self, name: str) -> None:
        """Forget a destination with its cursor, open batches and dead letters."""
        ...

    def configs(self) -> list[DestinationConfig]:
        """Every destination, in the order they were added."""
        ...

    def config(self, name: str) -> DestinationConfig:
        """One destination's settings; raises ``ConfigError`` for an unknown name."""
        ...

    def cursor(self, name: str) -> int:
        """The position of the last event the destination has claimed."""
        ...

    def next_batch(self, name: str) -> Batch | None:
        """The oldest open (pending) batch of the destination."""
        ...

    def claim(
        self, name: str, cursor: int, new_cursor: int, seqs: Sequence[int], now: float
    ) -> Batch | None:
        """Open a batch of ``seqs`` and move the cursor from ``cursor`` to ``new_cursor``.

        One transaction. With no ``seqs`` the cursor moves and no batch opens. Returns
        ``None`` as well when the cursor is no longer at ``cursor`` (another worker moved it).
        """
        ...

    def delivered(self, batch: Batch, now: float) -> None:
        """The batch arrived: close it and count its events."""
        ...

    def failed(
        self, batch: Batch, error: str, now: float, next_attempt_at: float, dead: bool
    ) -> None:
        """An attempt failed: count it, keep the error, and wait or dead-letter the batch."""
        ...

    def dead_letters(self, name: str) -> list[Batch]:
        """The destination's dead-lettered batches, oldest first."""
        ...

    def requeue(self, batch: Batch, now: float) -> None:
        """Put a dead-lettered batch back in line, as new."""
        ...

    def stats(self, name: str) -> DeliveryStats:
        """The destination's cursor, open and dead batches, and last outcome."""
        ...

    def acquire_worker(self) -> bool:
        """Become the one dispatcher of this state, if no other process or thread is.

        The claim ends with ``release_worker``, ``close`` or the death of the process.
        """
        ...

    def release_worker(self) -> None:
        """Stop being the dispatcher of this state."""
        ...

    def close(self) -> None:
        """Close the database."""
        ...


_BATCH_COLUMNS: Final = (
    "id, destination, seqs, state, attempts, next_attempt_at, last_error, created_at"
)


class SqlDeliveryStore:
    """The ``DeliveryStore`` statements both SQL stores share, spelled with their ``_mark``.

    A store supplies ``_mark`` (its driver's parameter placeholder), ``_transaction`` (one
    transaction on its connection) and ``_rows`` (the rows of one statement), both raising
    ``StorageError`` for driver errors, and adds ``add``, ``claim`` and the worker claim.
    """

    _mark: ClassVar[str]

    def _transaction(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _rows(self, sql: str, parameters: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def remove(self, name: str) -> None:
        m = self._mark
        with self._transaction() as db:
            if db.execute(f"DELETE FROM destinations WHERE name = {m}", (name,)).rowcount == 0:
                raise ConfigError(f"no destination is named {name!r}")
            for table in ("cursors", "batches", "outcomes"):
                db.execute(f"DELETE FROM {table} WHERE destination = {m}", (name,))

    def configs(self) -> list[DestinationConfig]:
        rows = self._rows("SELECT config FROM destinations ORDER BY position")
        return [DestinationConfig.from_json(json.loads(str(row[0]))) for row in rows]

    def config(self, name: str) -> DestinationConfig:
        rows = self._rows(f"SELECT config FROM destinations WHERE name = {self._mark}", (name,))
        if not rows:
            raise ConfigError(f"no destination is named {name!r}")
        return DestinationConfig.from_json(json.loads(str(rows[0][0])))

    def cursor(self, name: str) -> int:
        rows = self._rows(f"SELECT seq FROM cursors WHERE destination = {self._mark}", (name,))
        if not rows:
            raise ConfigError(f"no destination is named {name!r}")
        return int(str(rows[0][0]))

    def next_batch(self, name: str) -> Batch | None:
        rows = self._rows(
            f"SELECT {_BATCH_COLUMNS} FROM batches WHERE destination = {self._mark} "
            "AND state = 'pending' ORDER BY id LIMIT 1",
            (name,),
        )
        return _batch(rows[0]) if rows else None

    def delivered(self, batch: Batch, now: float) -> None:
        m = self._mark
        with self._transaction() as db:
            db.execute(f"DELETE FROM batches WHERE id = {m}", (batch.id,))
            db.execute(
                f"UPDATE outcomes SET delivered_events = delivered_events + {m}, "
                f"last_delivered_at = {m} WHERE destination = {m}",
                (len(batch.seqs), now, batch.destination),
            )

    def failed(
        self, batch: Batch, error: str, now: float, next_attempt_at: float, dead: bool
    ) -> None:
        m = self._mark
        with self._transaction() as db:
            db.execute(
                f"UPDATE batches SET attempts = attempts + 1, last_error = {m}, "
                f"next_attempt_at = {m}, state = {m} WHERE id = {m}",
                (error, next_attempt_at, "dead" if dead else "pending", batch.id),
            )
            db.execute(
                f"UPDATE outcomes SET last_error = {m}, last_error_at = {m} "
                f"WHERE destination = {m}",
                (error, now, batch.destination),
            )

    def dead_letters(self, name: str) -> list[Batch]:
        rows = self._rows(
            f"SELECT {_BATCH_COLUMNS} FROM batches WHERE destination = {self._mark} "
            "AND state = 'dead' ORDER BY id",
            (name,),
        )
        return [_batch(row) for row in rows]

    def requeue(self, batch: Batch, now: float) -> None:
        m = self._mark
        with self._transaction() as db:
            db.execute(
                f"UPDATE batches SET state = 'pending', attempts = 0, next_attempt_at = {m} "
                f"WHERE id = {m} AND state = 'dead'",
                (now, batch.id),
            )

    def stats(self, name: str) -> DeliveryStats:
        cursor = self.cursor(name)
        counts = {
            str(state): (int(str(batches)), int(str(events or 0)))
            for state, batches, events in self._rows(
                "SELECT state, count(*), sum(events) FROM batches "
                f"WHERE destination = {self._mark} GROUP BY state",
                (name,),
            )
        }
        outcome = self._rows(
            "SELECT delivered_events, last_delivered_at, last_error, last_error_at "
            f"FROM outcomes WHERE destination = {self._mark}",
            (name,),
        )
        delivered, delivered_at, error, error_at = outcome[0] if outcome else (0, None, None, None)
        return DeliveryStats(
            cursor=cursor,
            pending_batches=counts.get("pending", (0, 0))[0],
            pending_events=counts.get("pending", (0, 0))[1],
            dead_batches=counts.get("dead", (0, 0))[0],
            dead_events=counts.get("dead", (0, 0))[1],
            delivered_events=int(str(delivered)),
            last_delivered_at=_float_or_none(delivered_at),
            last_error=None if error is None else str(error),
            last_error_at=_float_or_none(error_at),
        )


class SqliteDeliveryStore(SqlDeliveryStore):
    """``DeliveryStore`` in a SQLite file (WAL, full sync: a claim survives power loss).

    One connection guarded by a lock, so the dispatcher thread, the admin API and the CLI
    can share it; other processes may open the same file.
    """

    _mark = "?"

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._connection = connection
        self._lock = threading.Lock()
        self._worker_file: IO[bytes] | None = None
        self.path = path

    @classmethod
    def open(cls, path: Path) -> SqliteDeliveryStore:
        """Open (creating when needed) the state database at ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            connection = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=10
            )
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the destinations state {path}: {exc}") from exc
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute("PRAGMA busy_timeout=10000")
            migrate(connection, "deliveries", path)
        except BaseException as exc:
            connection.close()
            if isinstance(exc, sqlite3.Error):
                raise StorageError(f"cannot open the destinations state {path}: {exc}") from exc
            raise
        return cls(connection, path)

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> SqliteDeliveryStore:
        """The state database of the data folder ``data_dir``."""
        return cls.open(data_dir / FILE_NAME)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._connection.execute("BEGIN IMMEDIATE")
                try:
                    yield self._connection
                except BaseException:
                    self._connection.execute("ROLLBACK")
                    raise
                self._connection.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StorageError(f"destinations state: {exc}") from exc

    def _rows(self, sql: str, parameters: Sequence[object] = ()) -> list[tuple[object, ...]]:
        with self._lock:
            try:
                return self._connection.execute(sql, parameters).fetchall()
            except sqlite3.Error as exc:
                raise StorageError(f"destinations state: {exc}") from exc

    def add(self, config: DestinationConfig, cursor: int, now: float) -> None:
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM destinations WHERE name = ?", (config.name,)).fetchone():
                raise ConfigError(f"a destination named {config.name!r} already exists")
            position = db.execute("SELECT coalesce(max(position), 0) + 1 FROM destinations")
            db.execute(
                "INSERT INTO destinations (name, config, position, created_at) VALUES (?,?,?,?)",
                (config.name, json.dumps(config.to_json()), position.fetchone()[0], now),
            )
            db.execute("INSERT OR REPLACE INTO cursors VALUES (?, ?)", (config.name, cursor))
            db.execute("INSERT OR REPLACE INTO outcomes (destination) VALUES (?)", (config.name,))

    def claim(
        self, name: str, cursor: int, new_cursor: int, seqs: Sequence[int], now: float
    ) -> Batch | None:
        with self._transaction() as db:
            moved = db.execute(
                "UPDATE cursors SET seq = ? WHERE destination = ? AND seq = ?",
                (new_cursor, name, cursor),
            )
            if moved.rowcount != 1 or not seqs:
                return None
            inserted = db.execute(
                "INSERT INTO batches (destination, seqs, events, state, next_attempt_at, "
                "created_at) VALUES (?, ?, ?, 'pending', ?, ?)",
                (name, json.dumps(list(seqs)), len(seqs), now, now),
            )
            batch_id = inserted.lastrowid
        if batch_id is None:
            raise StorageError("a claimed batch got no id")
        return Batch(batch_id, name, tuple(seqs), "pending", 0, now, None, now)

    def acquire_worker(self) -> bool:
        # An advisory file lock: the kernel drops it when the process dies, even by SIGKILL.
        with self._lock:
            if self._worker_file is not None:
                return True
            handle = self.path.with_name(self.path.name + ".worker").open("ab")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                return False
            self._worker_file = handle
            return True

    def release_worker(self) -> None:
        with self._lock:
            handle, self._worker_file = self._worker_file, None
        if handle is not None:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()

    def close(self) -> None:
        self.release_worker()
        with self._lock:
            self._connection.close()


def _batch(row: tuple[object, ...]) -> Batch:
    batch_id, destination, seqs, state, attempts, next_at, error, created = row
    return Batch(
        id=int(str(batch_id)),
        destination=str(destination),
        seqs=tuple(int(seq) for seq in json.loads(str(seqs))),
        state="dead" if state == "dead" else "pending",
        attempts=int(str(attempts)),
        next_attempt_at=float(str(next_at)),
        last_error=None if error is None else str(error),
        created_at=float(str(created)),
    )


def _float_or_none(value: object) -> float | None:
    return None if value is None else float(str(value))
