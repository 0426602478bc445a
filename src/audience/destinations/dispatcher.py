"""The dispatcher: a worker that moves every destination along the event log, batch by batch.

For each destination it either retries the open batch once its backoff has passed, or claims
the next batch after the destination's cursor (see ``state``), then delivers it: the events
its filters accept, through its transformation when it has one (``transforms``). A batch
that keeps failing is dead-lettered after ``DestinationPolicy.max_attempts`` and the destination
moves on; ``replay`` sends dead letters again. Events refused alone (a transformation that
raised, an event the receiver refused) are dead-lettered alone, each in a batch of its own,
and the rest of their batch is closed. Destinations are read from the store on every
pass, so ones added or removed by the CLI take effect while the dispatcher runs.

One dispatcher works on a state database at a time: ``BackgroundDispatcher`` waits until
it holds the store's worker claim (``DeliveryStore.acquire_worker``), so an ``audience
serve`` and an ``audience destinations run`` on the same data folder never both deliver.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from audience.clock import Clock
from audience.destinations.base import Destination, DestinationConfig, FollowsProfiles
from audience.destinations.delivery_store import Batch, DeliveryStore
from audience.destinations.people import ProfileReader
from audience.destinations.registry import open_destination
from audience.destinations.shared_reads import SharedReads
from audience.destinations.transforms import Transform, load_transform, transform_events
from audience.errors import (
    ConfigError,
    DeliveryError,
    PermanentDeliveryError,
    RefusedEventsError,
    RetryableDeliveryError,
)
from audience.eventlog import EventFeed, StoredEvent
from audience.retry import requested_wait

logger = logging.getLogger(__name__)

DestinationFactory = Callable[[DestinationConfig, Clock, ProfileReader | None], Destination]
"""Builds the destination a configuration names (``registry.open_destination``)."""

READ_LIMIT = 1000
"""Most events read from the log in one look for a destination's next batch."""

GATHER_SECONDS = 0.1
"""How long a caught-up destination woken by a commit waits before its next batch, so that a
flow of small commits fills one batch rather than making a batch of each."""

QUIET_CLOSE_AFTER = 10.0
"""Seconds a caught-up destination keeps its connections open, ready for the next events.

Under a steady flow a destination catches up many times a second; opening its connection (and,
for a warehouse, learning its tables' columns) again each time would cost more than the batch.
"""


@dataclass(frozen=True)
class ReplayResult:
    """What became of one dead-lettered batch sent again."""

    batch_id: int
    events: int
    delivered: bool
    error: str | None = None


class Dispatcher:
    """Delivers the event log to every configured destination, durably and in order.

    ``draw`` gives the random numbers in [0, 1] the destinations' retry jitter uses. ``people``
    is the profile store that warehouses keeping people tables follow: such a destination is
    given only the events the profiles already reflect.
    """

    def __init__(
        self,
        feed: EventFeed,
        store: DeliveryStore,
        clock: Clock,
        factory: DestinationFactory = open_destination,
        read_limit: int = READ_LIMIT,
        draw: Callable[[], float] = random.random,
        people: ProfileReader | None = None,
    ) -> None:
        self._feed = SharedReads(feed)
        self._people = people
        self._store = store
        self._clock = clock
        self._factory = factory
        self._read_limit = read_limit
        self._draw = draw
        self._open: dict[str, tuple[DestinationConfig, Destination]] = {}
        self._open_lock = threading.Lock()
        self._transforms: dict[str, Transform] = {}
        self._followed: dict[str, int] = {}
        """The operator actions each people-keeping destination was last brought up to."""

    @property
    def store(self) -> DeliveryStore:
        """The delivery state this dispatcher works on."""
        return self._store

    def problems(self) -> list[str]:
        """What keeps destinations from delivering as configured: transformations that cannot be
        imported, one line each (empty when all is well)."""
        problems = []
        for config in self._store.configs():
            try:
                if config.transform is not None:
                    self._transform(config.transform)
            except ConfigError as exc:
                problems.append(f"destination {config.name}: {exc}")
        return problems

    def step(self) -> bool:
        """One pass over every destination; ``True`` when any of them made progress."""
        configs = self._store.configs()
        self._close_removed({config.name for config in configs})
        progressed = False
        for config in configs:
            progressed = self._step(config) or progressed
        return progressed

    def step_one(self, name: str) -> bool:
        """One step of the destination ``name``; ``False`` when it has nothing to do now.

        Different destinations may step on different threads at the same time; one
        destination must step on one thread at a time.
        """
        try:
            config = self._store.config(name)
        except ConfigError:
            return False
        return self._step(config)

    def _step(self, config: DestinationConfig) -> bool:
        batch = self._store.next_batch(config.name)
        if batch is not None:
            if batch.next_attempt_at > self._now():
                return False
            return self._send(config, batch, self._feed.get_many(batch.seqs))
        cursor = self._store.cursor(config.name)
        last_read, chosen = self._next_events(config, cursor)
        if last_read == cursor:
            if config.keeps_people:
                self._follow_profiles(config, cursor)
            return False
        seqs = [event.seq for event in chosen]
        claimed = self._store.claim(config.name, cursor, last_read, seqs, self._now())
        if claimed is not None:
            self._send(config, claimed, chosen)
        return True

    def _next_events(self, config: DestinationConfig, cursor: int) -> tuple[int, list[StoredEvent]]:
        """The events of the destination's next batch after ``cursor``, and the position of the
        last event looked at (``cursor`` when there is none).

        The log is read only as far as the batch needs: as many events as places are left in
        it, again while the filters leave places, up to ``read_limit`` events in all. So the
        cursor stops right after the batch's last event, or after the events skipped.
        """
        size = config.delivery.batch_size
        bound = self._people.cursor() if config.keeps_people and self._people else None
        chosen: list[StoredEvent] = []
        last_read, looked_at = cursor, 0
        while len(chosen) < size and looked_at < max(self._read_limit, size):
            wanted = size - len(chosen)
            page = self._feed.read_after(last_read, wanted)
            if bound is not None:
                page = [event for event in page if event.seq <= bound]
            if not page:
                break
            chosen.extend(event for event in page if config.accepts(event))
            last_read, looked_at = page[-1].seq, looked_at + len(page)
            if len(page) < wanted:
                break
        return last_read, chosen

    def _follow_profiles(self, config: DestinationConfig, cursor: int) -> None:
        """With no event to load, bring the people tables up to new operator actions, once the
        profiles reflect every event the destination has (a split rebuilds them)."""
        if self._people is None:
            return
        actions = len(self._people.actions())
        if self._followed.get(config.name) == actions or self._people.cursor() < cursor:
            return
        destination = self._destination(config)
        if isinstance(destination, FollowsProfiles):
            try:
                destination.follow_profiles()
            except DeliveryError as exc:
                logger.info("destination %s: people tables not followed: %s", config.name, exc)
                return
        self._followed[config.name] = actions

    def _send(self, config: DestinationConfig, batch: Batch, events: Sequence[StoredEvent]) -> bool:
        error = self._deliver(config, batch, events)
        now = self._now()
        if error is None:
            self._store.delivered(batch, now)
            return True
        if isinstance(error, RefusedEventsError):
            self._set_apart(config, batch, error, now)
            return True
        attempts = batch.attempts + 1
        dead = isinstance(error, PermanentDeliveryError) or config.delivery.is_exhausted(attempts)
        wait = config.delivery.delay(attempts, requested_wait(error), draw=self._draw())
        next_attempt = now + wait
        self._store.failed(batch, str(error), now, next_attempt, dead)
        if dead:
            logger.warning(
                "destination %s: batch %s dead-lettered after %s attempts: %s",
                config.name,
                batch.id,
                attempts,
                error,
            )
        return True

    def _set_apart(
        self, config: DestinationConfig, batch: Batch, error: RefusedEventsError, now: float
    ) -> None:
        """Dead-letter the refused events of ``batch`` alone and close the rest of it."""
        logger.warning("destination %s: batch %s: %s", config.name, batch.id, error)
        if set(batch.seqs) <= set(error.refused):
            self._store.failed(batch, str(error), now, now, dead=True)
            return
        self._store.set_apart(batch, error.refused, now)

    def _deliver(
        self, config: DestinationConfig, batch: Batch, events: Sequence[StoredEvent]
    ) -> DeliveryError | None:
        failed: dict[int, str] = {}
        if config.transform is not None and events:
            try:
                transformed = transform_events(self._transform(config.transform), events)
            except ConfigError as exc:
                # The module may come back (a deployment in progress): retried, then dead.
                logger.error("destination %s: %s", config.name, exc)
                return RetryableDeliveryError(str(exc))
            events, failed = transformed.events, transformed.failed
        try:
            if events:
                self._destination(config).deliver(events, str(batch.id))
        except RefusedEventsError as exc:
            failed.update(exc.refused)
        except DeliveryError as exc:
            logger.info("destination %s: batch %s failed: %s", config.name, batch.id, exc)
            return exc
        except Exception as exc:
            # A bug in one destination must not stop the others: retried like a network error.
            logger.exception("destination %s: batch %s raised", config.name, batch.id)
            self._forget(config.name)
            return RetryableDeliveryError(f"{type(exc).__name__}: {exc}")
        return RefusedEventsError(failed) if failed else None

    def _transform(self, path: str) -> Transform:
        """The transformation ``path`` names, imported once (a failed import is tried again)."""
        function = self._transforms.get(path)
        if function is None:
            function = self._transforms[path] = load_transform(path)
        return function

    def replay(self, name: str, batch_ids: Sequence[int] = ()) -> list[ReplayResult]:
        """Send the destination's dead-lettered batches again (only ``batch_ids`` if given).

        A batch that arrives is closed; one that fails again stays dead-lettered with the
        new error.
        """
        config = self._store.config(name)
        results = []
        for batch in self._store.dead_letters(name):
            if batch_ids and batch.id not in batch_ids:
                continue
            events = self._feed.get_many(batch.seqs)
            error = self._deliver(config, batch, events)
            now = self._now()
            if error is None:
                self._store.delivered(batch, now)
            elif isinstance(error, RefusedEventsError):
                self._set_apart(config, batch, error, now)
            else:
                self._store.failed(batch, str(error), now, now, dead=True)
            message = None if error is None else str(error)
            results.append(ReplayResult(batch.id, len(events), error is None, message))
        return results

    def _destination(self, config: DestinationConfig) -> Destination:
        with self._open_lock:
            opened = self._open.get(config.name)
        if opened is not None and opened[0] == config:
            return opened[1]
        self._forget(config.name)
        destination = self._factory(config, self._clock, self._people)
        with self._open_lock:
            self._open[config.name] = (config, destination)
        return destination

    def _forget(self, name: str) -> None:
        with self._open_lock:
            opened = self._open.pop(name, None)
        if opened is not None:
            opened[1].close()

    def forget(self, name: str) -> None:
        """Close the destination ``name`` if it is open; the next batch opens it again."""
        self._forget(name)

    def rest(self, name: str, *, long_quiet: bool) -> None:
        """The destination ``name`` has caught up: close it if it keeps others out while open,
        or if it has been quiet for long; otherwise keep it open for the next events."""
        with self._open_lock:
            opened = self._open.get(name)
        if opened is not None and (long_quiet or opened[1].closes_when_caught_up):
            self._forget(name)

    def _close_removed(self, names: set[str]) -> None:
        with self._open_lock:
            removed = [name for name in self._open if name not in names]
        for name in removed:
            self._forget(name)

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def close(self) -> None:
        """Close every open destination."""
        with self._open_lock:
            names = list(self._open)
        for name in names:
            self._forget(name)


@dataclass
class _Lane:
    """One destination's worker thread and its signals."""

    name: str
    stop: threading.Event = field(default_factory=threading.Event)
    wake: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


class BackgroundDispatcher:
    """Runs a ``Dispatcher`` beside the collector until ``stop``: one thread per destination.

    Each destination steps on its own thread, so a slow or unreachable receiver never holds
    up the others. A destination's thread steps while there is work, then waits
    ``idle_interval`` seconds or until ``wake`` (called after new events are committed).
    A supervising thread starts and stops those threads as destinations are added and
    removed, once it holds the store's worker claim.
    """

    def __init__(
        self,
        dispatcher: Dispatcher,
        idle_interval: float = 0.5,
        quiet_close_after: float = QUIET_CLOSE_AFTER,
        gather: float = GATHER_SECONDS,
    ) -> None:
        self._dispatcher = dispatcher
        self._idle_interval = idle_interval
        self._gather = gather
        self._quiet_close_after = quiet_close_after
        self._stopping = threading.Event()
        self._lanes: dict[str, _Lane] = {}
        self._lanes_lock = threading.Lock()
        self._thread = threading.Thread(target=self._supervise, name="audience-destinations")

    def start(self) -> None:
        """Start delivering; log what keeps a destination from delivering as configured."""
        try:
            problems = self._dispatcher.problems()
        except Exception:
            logger.exception("reading the destinations failed")
            problems = []
        for problem in problems:
            logger.error("%s", problem)
        self._thread.start()

    def wake(self, _last_seq: int = 0) -> None:
        """Look for new events now (fits ``SqliteEventStore.add_commit_listener``)."""
        with self._lanes_lock:
            for lane in self._lanes.values():
                lane.wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the batches in flight, stop, and close the destinations."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _supervise(self) -> None:
        store = self._dispatcher.store
        try:
            while not self._stopping.is_set():
                if store.acquire_worker():
                    self._follow(self._names())
                # Another dispatcher may hold the claim: take over when it stops.
                self._stopping.wait(self._idle_interval)
        finally:
            self._follow(set())
            self._dispatcher.close()
            store.release_worker()

    def _names(self) -> set[str]:
        try:
            return {config.name for config in self._dispatcher.store.configs()}
        except Exception:
            # The supervisor outlives a store that fails for a moment: it logs and goes on.
            logger.exception("reading the destinations failed")
            with self._lanes_lock:
                return set(self._lanes)

    def _follow(self, names: set[str]) -> None:
        """Run a lane for each of ``names`` and for nothing else."""
        with self._lanes_lock:
            gone = [self._lanes.pop(name) for name in list(self._lanes) if name not in names]
            for name in names - set(self._lanes):
                lane = _Lane(name)
                lane.thread = threading.Thread(
                    target=self._run_lane, args=(lane,), name=f"audience-destination-{name}"
                )
                self._lanes[name] = lane
                lane.thread.start()
        for lane in gone:
            lane.stop.set()
            lane.wake.set()
        for lane in gone:
            if lane.thread is not None:
                lane.thread.join()
            self._dispatcher.forget(lane.name)

    def _run_lane(self, lane: _Lane) -> None:
        quiet_since: float | None = None
        while not lane.stop.is_set():
            if self._step(lane.name):
                quiet_since = None
                continue
            # Caught up (or waiting to retry): let go of files at once, connections later.
            now = time.monotonic()
            quiet_since = now if quiet_since is None else quiet_since
            long_quiet = now - quiet_since >= self._quiet_close_after
            self._dispatcher.rest(lane.name, long_quiet=long_quiet)
            woken = lane.wake.wait(self._idle_interval)
            lane.wake.clear()
            if woken and self._gather > 0:
                lane.stop.wait(self._gather)

    def _step(self, name: str) -> bool:
        try:
            return self._dispatcher.step_one(name)
        except Exception:
            # A lane outlives a store that fails for a moment: it logs and tries again.
            logger.exception("destination %s: a delivery step failed", name)
            return False
