"""The delivery store: each destination's settings, cursor, open batch and dead letters, durably.

The dispatcher moves a destination forward in two durable steps. ``claim`` records a batch
(the positions of its events) and advances the cursor past it in one transaction; after the
batch is sent, ``delivered`` removes it. A process that dies between the two finds the batch
still open when it restarts and sends it again: nothing is lost, and nothing is sent twice
except that one batch, whose events keep their ``messageId``.

``DeliveryStore`` is the contract. :class:`SqlDeliveryStore` holds its statements once, spelled
with the store's :class:`~audience.storage.dialect.SqlDialect`; its two backends supply the
connection, the transaction and the one-dispatcher claim:
:class:`~audience.destinations.sqlite_deliveries.SqliteDeliveryStore` (``destinations.sqlite3``
in the data folder) and :class:`~audience.destinations.postgres_deliveries.PostgresDeliveryStore`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

from audience.destinations.base import DestinationConfig
from audience.errors import ConfigError, StorageError
from audience.storage.dialect import SqlConnection, SqlDialect

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

    def retained(self) -> tuple[int | None, set[int]]:
        """What the destinations still need of the event log: the lowest cursor of any
        destination (``None`` with no destination) and the positions of every open or
        dead-lettered batch (a dead letter can be replayed)."""
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

    def replace_config(self, config: DestinationConfig) -> None:
        """Store ``config`` as the settings of the destination of its name (a rotated secret),
        keeping its cursor, open batch and dead letters; the dispatcher uses them from its next
        batch on. ``ConfigError`` when no destination has that name."""
        ...

    def set_apart(self, batch: Batch, refused: Mapping[int, str], now: float) -> None:
        """Close ``batch`` in one transaction: each refused event (log position -> reason)
        becomes a dead letter of its own, and only the others count as delivered. Every event
        of ``refused`` belongs to the batch."""
        ...

    def forget_events(self, seqs: Collection[int]) -> int:
        """Take the events at ``seqs`` out of every pending and dead-lettered batch (a batch left
        empty goes, a dead letter's error with it); returns how many batches changed."""
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
    """``DeliveryStore`` on one SQL connection guarded by a lock, shared by the dispatcher's
    threads, the admin API and the CLI.

    A backend passes its connection and dialect, and supplies ``_in_transaction`` (one
    transaction on the connection), ``acquire_worker`` and ``release_worker``; it may
    override ``_serialise_adds``.
    """

    def __init__(self, connection: SqlConnection, dialect: SqlDialect) -> None:
        self._db = connection
        self._dialect = dialect
        self._lock = threading.Lock()

    # -- what a backend supplies -----------------------------------------------------------

    def _in_transaction(self, durable: bool) -> AbstractContextManager[None]:
        """One transaction on the connection: committed when the block ends, else rolled back.

        A ``durable`` commit survives power loss. The others (a batch claimed, delivered, failed
        or set apart) survive a crash of the process, and power loss may take back the last of
        them: the cursor then goes back, never forward, and those batches are sent again with
        the same ``messageId``s, never lost.
        """
        raise NotImplementedError

    def _serialise_adds(self, db: SqlConnection) -> None:
        """Make concurrent ``add`` transactions wait for one another (inside the transaction)."""

    def acquire_worker(self) -> bool:
        raise NotImplementedError

    def release_worker(self) -> None:
        raise NotImplementedError

    # -- running statements ----------------------------------------------------------------

    @contextmanager
    def _transaction(self, *, durable: bool = True) -> Iterator[SqlConnection]:
        with self._lock:
            try:
                with self._in_transaction(durable):
                    yield self._db
            except self._dialect.failure as exc:
                raise StorageError(f"destinations state: {exc}") from exc

    def _rows(self, sql: str, parameters: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._db.execute(sql, parameters).fetchall()
            except self._dialect.failure as exc:
                raise StorageError(f"destinations state: {exc}") from exc

    def close(self) -> None:
        self.release_worker()
        with self._lock:
            self._db.close()

    # -- DeliveryStore ---------------------------------------------------------------------

    def add(self, config: DestinationConfig, cursor: int, now: float) -> None:
        m = self._dialect.mark
        with self._transaction() as db:
            self._serialise_adds(db)
            if db.execute(
                f"SELECT 1 FROM destinations WHERE name = {m}", (config.name,)
            ).fetchone():
                raise ConfigError(f"a destination named {config.name!r} already exists")
            db.execute(
                "INSERT INTO destinations (name, config, position, created_at) "
                f"SELECT {m}, {m}, coalesce(max(position), 0) + 1, {m} FROM destinations",
                (config.name, json.dumps(config.to_json()), now),
            )
            db.execute(
                f"INSERT INTO cursors (destination, seq) VALUES ({m}, {m}) "
                "ON CONFLICT (destination) DO UPDATE SET seq = excluded.seq",
                (config.name, cursor),
            )
            db.execute(f"DELETE FROM outcomes WHERE destination = {m}", (config.name,))
            db.execute(f"INSERT INTO outcomes (destination) VALUES ({m})", (config.name,))

    def remove(self, name: str) -> None:
        m = self._dialect.mark
        with self._transaction() as db:
            if db.execute(f"DELETE FROM destinations WHERE name = {m}", (name,)).rowcount == 0:
                raise ConfigError(f"no destination is named {name!r}")
            for table in ("cursors", "batches", "outcomes"):
                db.execute(f"DELETE FROM {table} WHERE destination = {m}", (name,))

    def configs(self) -> list[DestinationConfig]:
        rows = self._rows("SELECT config FROM destinations ORDER BY position")
        return [DestinationConfig.from_json(json.loads(str(row[0]))) for row in rows]

    def config(self, name: str) -> DestinationConfig:
        m = self._dialect.mark
        rows = self._rows(f"SELECT config FROM destinations WHERE name = {m}", (name,))
        if not rows:
            raise ConfigError(f"no destination is named {name!r}")
        return DestinationConfig.from_json(json.loads(str(rows[0][0])))

    def cursor(self, name: str) -> int:
        m = self._dialect.mark
        rows = self._rows(f"SELECT seq FROM cursors WHERE destination = {m}", (name,))
        if not rows:
            raise ConfigError(f"no destination is named {name!r}")
        return int(str(rows[0][0]))

    def retained(self) -> tuple[int | None, set[int]]:
        lowest = self._rows("SELECT min(seq) FROM cursors")[0][0]
        held = {
            int(seq)
            for (seqs,) in self._rows("SELECT seqs FROM batches")
            for seq in json.loads(str(seqs))
        }
        return (None if lowest is None else int(str(lowest))), held

    def next_batch(self, name: str) -> Batch | None:
        rows = self._rows(
            f"SELECT {_BATCH_COLUMNS} FROM batches WHERE destination = {self._dialect.mark} "
            "AND state = 'pending' ORDER BY id LIMIT 1",
            (name,),
        )
        return _batch(rows[0]) if rows else None

    def claim(
        self, name: str, cursor: int, new_cursor: int, seqs: Sequence[int], now: float
    ) -> Batch | None:
        m = self._dialect.mark
        with self._transaction(durable=False) as db:
            # A compare-and-swap on the cursor: two dispatchers that read the same cursor
            # cannot both claim the same events.
            moved = db.execute(
                f"UPDATE cursors SET seq = {m} WHERE destination = {m} AND seq = {m}",
                (new_cursor, name, cursor),
            )
            if moved.rowcount != 1 or not seqs:
                return None
            rows = db.execute(
                "INSERT INTO batches (destination, seqs, events, state, next_attempt_at, "
                f"created_at) VALUES ({m}, {m}, {m}, 'pending', {m}, {m}) RETURNING id",
                (name, json.dumps(list(seqs)), len(seqs), now, now),
            ).fetchall()
        if not rows:
            raise StorageError("a claimed batch got no id")
        return Batch(int(rows[0][0]), name, tuple(seqs), "pending", 0, now, None, now)

    def delivered(self, batch: Batch, now: float) -> None:
        m = self._dialect.mark
        with self._transaction(durable=False) as db:
            db.execute(f"DELETE FROM batches WHERE id = {m}", (batch.id,))
            db.execute(
                f"UPDATE outcomes SET delivered_events = delivered_events + {m}, "
                f"last_delivered_at = {m} WHERE destination = {m}",
                (len(batch.seqs), now, batch.destination),
            )

    def failed(
        self, batch: Batch, error: str, now: float, next_attempt_at: float, dead: bool
    ) -> None:
        m = self._dialect.mark
        with self._transaction(durable=False) as db:
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

    def replace_config(self, config: DestinationConfig) -> None:
        m = self._dialect.mark
        with self._transaction() as db:
            changed = db.execute(
                f"UPDATE destinations SET config = {m} WHERE name = {m}",
                (json.dumps(config.to_json()), config.name),
            )
            if changed.rowcount == 0:
                raise ConfigError(f"no destination is named {config.name!r}")

    def set_apart(self, batch: Batch, refused: Mapping[int, str], now: float) -> None:
        kept = len(batch.seqs) - len(set(refused) & set(batch.seqs))
        m = self._dialect.mark
        with self._transaction(durable=False) as db:
            for seq, reason in refused.items():
                db.execute(
                    "INSERT INTO batches (destination, seqs, events, state, attempts, "
                    f"next_attempt_at, last_error, created_at) VALUES ({m}, {m}, 1, 'dead', 1, "
                    f"{m}, {m}, {m})",
                    (batch.destination, json.dumps([seq]), now, reason, now),
                )
            db.execute(f"DELETE FROM batches WHERE id = {m}", (batch.id,))
            db.execute(
                f"UPDATE outcomes SET delivered_events = delivered_events + {m}, "
                f"last_delivered_at = {m}, last_error = {m}, last_error_at = {m} "
                f"WHERE destination = {m}",
                (kept, now, next(iter(refused.values())), now, batch.destination),
            )

    def forget_events(self, seqs: Collection[int]) -> int:
        forgotten = set(seqs)
        if not forgotten:
            return 0
        m = self._dialect.mark
        changed = 0
        with self._transaction() as db:
            for batch_id, batch_seqs in db.execute("SELECT id, seqs FROM batches", ()).fetchall():
                held = [int(seq) for seq in json.loads(str(batch_seqs))]
                kept = [seq for seq in held if seq not in forgotten]
                if len(kept) == len(held):
                    continue
                changed += 1
                if kept:
                    db.execute(
                        f"UPDATE batches SET seqs = {m}, events = {m} WHERE id = {m}",
                        (json.dumps(kept), len(kept), batch_id),
                    )
                else:
                    db.execute(f"DELETE FROM batches WHERE id = {m}", (batch_id,))
        return changed

    def dead_letters(self, name: str) -> list[Batch]:
        rows = self._rows(
            f"SELECT {_BATCH_COLUMNS} FROM batches WHERE destination = {self._dialect.mark} "
            "AND state = 'dead' ORDER BY id",
            (name,),
        )
        return [_batch(row) for row in rows]

    def requeue(self, batch: Batch, now: float) -> None:
        m = self._dialect.mark
        with self._transaction() as db:
            db.execute(
                f"UPDATE batches SET state = 'pending', attempts = 0, next_attempt_at = {m} "
                f"WHERE id = {m} AND state = 'dead'",
                (now, batch.id),
            )

    def stats(self, name: str) -> DeliveryStats:
        m = self._dialect.mark
        cursor = self.cursor(name)
        counts = {
            str(state): (int(str(batches)), int(str(events or 0)))
            for state, batches, events in self._rows(
                f"SELECT state, count(*), sum(events) FROM batches WHERE destination = {m} "
                "GROUP BY state",
                (name,),
            )
        }
        outcome = self._rows(
            "SELECT delivered_events, last_delivered_at, last_error, last_error_at "
            f"FROM outcomes WHERE destination = {m}",
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
