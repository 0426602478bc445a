"""Retention in ``audience serve``: events older than their source's retention are pruned once
the profiles and every destination are past them.

:class:`Retention` is one run: it reads how far the resolver has applied the log (the profile
store's cursor) and what the destinations still need (the lowest cursor, and the events of
every open or dead-lettered batch), and asks the event store to prune the older events no one
needs any more, then to give the space back. The profiles keep what they aggregated from the
pruned events (first and last seen, counts, traits, the journey's positions): they live in the
profile store, not in the log.

:class:`RetentionPruner` runs it on a thread of the collector process, once at start and then
every ``interval`` seconds; a run that fails is logged and counted (``/metrics``) and the next
one tries again, so ingestion never waits on it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Final, Protocol

from starlette.concurrency import run_in_threadpool

from audience.clock import Clock, SystemClock
from audience.collector.metrics import Metrics
from audience.destinations.delivery_store import DeliveryStore
from audience.resolution.profile_store import ProfileStore
from audience.storage.pruning import PruneRule
from audience.tracking import format_timestamp

logger = logging.getLogger(__name__)

RETENTION_INTERVAL: Final = 3600.0
"""Seconds between two retention runs of ``audience serve``."""


class PrunableLog(Protocol):
    """What retention uses of an event store (both stores have it)."""

    def source_retention(self) -> dict[str, int]: ...

    def prune(
        self,
        through: int,
        rules: Sequence[PruneRule],
        keep: Collection[int] = (),
        stopping: Callable[[], bool] | None = None,
    ) -> int: ...

    def reclaim_space(self) -> str | None: ...


@dataclass(frozen=True)
class RetentionRun:
    """What one run did: events pruned, the position no event above was considered, and how
    space was given back (``None`` when it was not)."""

    pruned: int
    through: int
    reclaimed: str | None


class Retention:
    """Prunes events older than ``days`` (each source's own retention where it has one) once
    the profiles and every destination are past them."""

    def __init__(
        self,
        events: PrunableLog,
        profiles: ProfileStore,
        deliveries: DeliveryStore | None,
        *,
        days: int | None,
        clock: Clock | None = None,
    ) -> None:
        self._events = events
        self._profiles = profiles
        self._deliveries = deliveries
        self._days = days
        self._clock = clock or SystemClock()

    def rules(self) -> list[PruneRule]:
        """What may go now: per source with a retention of its own, then the server's."""
        now = self._clock.now()

        def before(days: int) -> str:
            return format_timestamp(now - timedelta(days=days))

        own = self._events.source_retention()
        rules = [PruneRule(before(days), source=source) for source, days in sorted(own.items())]
        if self._days is not None:
            rules.append(PruneRule(before(self._days), others=tuple(sorted(own))))
        return rules

    def run(self, stopping: Callable[[], bool] | None = None) -> RetentionRun:
        """One pass: prune what every reader is past and the rules let go, reclaim the space;
        ``stopping`` (asked between transactions) ends it early."""
        rules = self.rules()
        if not rules:
            return RetentionRun(0, 0, None)
        through = self._profiles.cursor()
        held: set[int] = set()
        if self._deliveries is not None:
            lowest, held = self._deliveries.retained()
            if lowest is not None:
                through = min(through, lowest)
        pruned = self._events.prune(through, rules, held, stopping)
        stopped = stopping is not None and stopping()
        reclaimed = self._events.reclaim_space() if pruned and not stopped else None
        return RetentionRun(pruned, through, reclaimed)


class RetentionPruner:
    """Runs :class:`Retention` on a thread of its own, started and stopped with the app."""

    def __init__(
        self, retention: Retention, metrics: Metrics, interval: float = RETENTION_INTERVAL
    ) -> None:
        self._retention = retention
        self._metrics = metrics
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> RetentionRun | None:
        """One run, its outcome logged and counted; ``None`` when it failed."""
        try:
            done = self._retention.run(self._stop.is_set)
        except Exception:
            logger.exception("pruning old events failed; ingestion goes on, the next run retries")
            self._metrics.retention_ran("failed")
            return None
        self._metrics.retention_ran("ok", done.pruned)
        if done.pruned:
            logger.info(
                "retention pruned %d event(s) up to #%d%s",
                done.pruned,
                done.through,
                f"; {done.reclaimed}" if done.reclaimed else "",
            )
        return done

    def _run(self) -> None:
        self.run_once()
        while not self._stop.wait(self._interval):
            self.run_once()

    async def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="audience-retention", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None:
            await run_in_threadpool(thread.join)
