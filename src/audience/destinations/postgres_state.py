"""Delivery state on PostgreSQL: the ``DeliveryStore`` contract shared by every host.

The tables are those of the SQLite state (migration ``deliveries/0001``). Claims stay a
compare-and-swap on the destination's cursor, so two dispatchers that read the same cursor
cannot both claim the same events. The one active dispatcher across every host is chosen by a
session advisory lock, which PostgreSQL drops when its connection ends, however the process
dies; another host's dispatcher takes over at its next try.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final

import psycopg

from audience.destinations.base import DestinationConfig
from audience.destinations.state import Batch, SqlDeliveryStore
from audience.errors import ConfigError, StorageError
from audience.storage.postgres import connect
from audience.storage.postgres_migrations import migrate

WORKER_LOCK: Final = 0x617568
"""First half of the advisory lock key held by the active dispatcher (the second is per schema)."""


class PostgresDeliveryStore(SqlDeliveryStore):
    """``DeliveryStore`` in a PostgreSQL database; one connection guarded by a lock."""

    _mark = "%s"

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.Lock()
        self._connection = connect(url)
        self._worker: psycopg.Connection[Any] | None = None
        try:
            migrate(self._connection, "deliveries")
        except BaseException:
            self._connection.close()
            raise

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        with self._lock:
            try:
                with self._connection.transaction():
                    yield self._connection
            except psycopg.Error as exc:
                raise StorageError(f"destinations state: {exc}") from exc

    def _rows(self, sql: str, parameters: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._connection.execute(sql, parameters).fetchall()
            except psycopg.Error as exc:
                raise StorageError(f"destinations state: {exc}") from exc

    def add(self, config: DestinationConfig, cursor: int, now: float) -> None:
        with self._transaction() as db:
            db.execute("LOCK TABLE destinations IN SHARE ROW EXCLUSIVE MODE")
            if db.execute("SELECT 1 FROM destinations WHERE name = %s", (config.name,)).fetchone():
                raise ConfigError(f"a destination named {config.name!r} already exists")
            db.execute(
                "INSERT INTO destinations (name, config, position, created_at) "
                "SELECT %s, %s, coalesce(max(position), 0) + 1, %s FROM destinations",
                (config.name, json.dumps(config.to_json()), now),
            )
            db.execute(
                "INSERT INTO cursors VALUES (%s, %s) "
                "ON CONFLICT (destination) DO UPDATE SET seq = excluded.seq",
                (config.name, cursor),
            )
            db.execute("DELETE FROM outcomes WHERE destination = %s", (config.name,))
            db.execute("INSERT INTO outcomes (destination) VALUES (%s)", (config.name,))

    def claim(
        self, name: str, cursor: int, new_cursor: int, seqs: Sequence[int], now: float
    ) -> Batch | None:
        with self._transaction() as db:
            moved = db.execute(
                "UPDATE cursors SET seq = %s WHERE destination = %s AND seq = %s",
                (new_cursor, name, cursor),
            )
            if moved.rowcount != 1 or not seqs:
                return None
            row = db.execute(
                "INSERT INTO batches (destination, seqs, events, state, next_attempt_at, "
                "created_at) VALUES (%s, %s, %s, 'pending', %s, %s) RETURNING id",
                (name, json.dumps(list(seqs)), len(seqs), now, now),
            ).fetchone()
        if row is None:
            raise StorageError("a claimed batch got no id")
        return Batch(int(row[0]), name, tuple(seqs), "pending", 0, now, None, now)

    def acquire_worker(self) -> bool:
        with self._lock:
            if self._worker is not None:
                return True
            worker = connect(self.url)
            row = worker.execute(
                "SELECT pg_try_advisory_lock(%s, hashtext(current_schema()))", (WORKER_LOCK,)
            ).fetchone()
            if not row or not row[0]:
                worker.close()
                return False
            self._worker = worker
            return True

    def release_worker(self) -> None:
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.close()  # ending the session releases its advisory lock

    def close(self) -> None:
        self.release_worker()
        with self._lock:
            self._connection.close()
