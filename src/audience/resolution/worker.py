"""The resolver in a process of its own, so that resolution and the collector use different cores.

``audience serve`` runs the collector, its writer and the destinations in one interpreter; the
resolver is the heaviest reader of the log, so it follows the log from a child process instead of
a thread there. Both processes open the same SQLite files (WAL lets them). The collector wakes the
child after each commit through an event that never blocks, and the child also looks on its own
every ``IDLE_WAIT`` seconds. The child stops when asked, and on its own if its parent dies.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Final

from audience.errors import AudienceError
from audience.resolution.resolver import DEFAULT_BATCH, IDLE_WAIT, Resolver
from audience.resolution.sqlite import SQLiteProfileStore
from audience.storage.backend import EventStore
from audience.storage.sqlite import SqliteEventStore

logger = logging.getLogger(__name__)

STOP_SECONDS: Final = 15.0
"""How long ``stop`` waits for the child to finish its batch before ending it."""


def follow(
    events_path: str,
    profiles_path: str,
    link_email: bool | None,
    batch_size: int,
    database_url: str | None,
    wake: Event,
    stop: Event,
) -> None:
    """The child's whole life: apply batches until ``stop`` is set or the parent is gone."""
    # Ctrl-C reaches the whole process group; the parent decides when this process stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    events: EventStore
    profiles: SQLiteProfileStore
    if database_url:
        from audience.resolution.postgres import PostgresProfileStore
        from audience.storage.postgres import PostgresEventStore

        events = PostgresEventStore.open(database_url)
        profiles = PostgresProfileStore(database_url, link_email=link_email)
    else:
        events = SqliteEventStore.open(Path(events_path), synchronous="normal")
        profiles = SQLiteProfileStore(profiles_path, link_email=link_email)
    resolver = Resolver(events, profiles, batch_size=batch_size)
    try:
        while not stop.is_set() and (parent is None or parent.is_alive()):
            wake.clear()
            try:
                applied = resolver.step()
            except AudienceError:
                logger.exception("resolution failed; retrying after a pause")
                stop.wait(IDLE_WAIT)
                continue
            if applied < batch_size:
                wake.wait(IDLE_WAIT)
    finally:
        profiles.close()
        events.close()


class ResolverProcess:
    """Starts, wakes and stops the child process that keeps profiles up to date."""

    def __init__(
        self,
        events_path: Path,
        profiles_path: Path,
        *,
        link_email: bool | None = None,
        batch_size: int = DEFAULT_BATCH,
        database_url: str | None = None,
    ) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._arguments = (
            str(events_path),
            str(profiles_path),
            link_email,
            batch_size,
            database_url,
        )
        self._wake = self._context.Event()
        self._stop = self._context.Event()
        self._process: multiprocessing.process.BaseProcess | None = None

    def start(self) -> None:
        """Start the child (a fresh interpreter: nothing of this process's threads is copied)."""
        if self._process is not None:
            return
        self._stop.clear()
        process = self._context.Process(
            target=follow,
            args=(*self._arguments, self._wake, self._stop),
            name="audience-resolver",
            daemon=True,
        )
        process.start()
        self._process = process

    def notify(self, last_seq: int = 0) -> None:
        """Wake the child: new events were committed (a commit listener; never blocks)."""
        self._wake.set()

    def stop(self) -> None:
        """Ask the child to finish its batch and exit; end it if it does not within the limit."""
        process, self._process = self._process, None
        if process is None:
            return
        self._stop.set()
        self._wake.set()
        process.join(STOP_SECONDS)
        if process.is_alive():
            logger.warning("the resolver process did not stop in time; terminating it")
            process.terminate()
            process.join(STOP_SECONDS)
        process.close()
