"""The delivery store on PostgreSQL, shared by the dispatchers of every host.

The tables are those of the SQLite store (migrations ``deliveries/postgres/``). Claims stay a
compare-and-swap on the destination's cursor, so two dispatchers that read the same cursor
cannot both claim the same events. The one active dispatcher across every host is chosen by a
session advisory lock, which PostgreSQL drops when its connection ends, however the process
dies; another host's dispatcher takes over at its next try.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

import psycopg

from audience.destinations.delivery_store import SqlDeliveryStore
from audience.storage.dialect import SqlConnection
from audience.storage.postgres import POSTGRES, connect
from audience.storage.postgres_migrations import migrate

WORKER_LOCK: Final = 0x617568
"""First half of the advisory lock key held by the active dispatcher (the second is per schema)."""


class PostgresDeliveryStore(SqlDeliveryStore):
    """``DeliveryStore`` in a PostgreSQL database; one connection guarded by a lock."""

    def __init__(self, url: str) -> None:
        connection = connect(url)
        try:
            migrate(connection, "deliveries")
        except BaseException:
            connection.close()
            raise
        super().__init__(connection, POSTGRES)
        self.url = url
        self._connection = connection
        self._worker: psycopg.Connection[Any] | None = None

    @contextmanager
    def _in_transaction(self, durable: bool) -> Iterator[None]:
        with self._connection.transaction():
            if not durable:
                self._connection.execute("SET LOCAL synchronous_commit = off")
            yield

    def _serialise_adds(self, db: SqlConnection) -> None:
        db.execute("LOCK TABLE destinations IN SHARE ROW EXCLUSIVE MODE", ())

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
