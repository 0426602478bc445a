"""Readiness (``GET /readyz``): should this collector get traffic?

``/healthz`` says the process answers (liveness); ``/readyz`` says whether events sent here
are committed and the workers beside the collector are up. It answers 503 when:

- events cannot be committed: the oldest append not yet answered has waited more than
  ``WRITER_STALL_LIMIT`` seconds (the writer is stuck on a lock, a disk, a hung listener),
  the last commit failed less than ``FAILURE_MEMORY`` seconds ago (a later success clears it
  at once), or the writer thread has ended;
- the replicated log (``--log``) is unreachable, or its stream not ready;
- a supervised child has been down (dead, restarting, or not yet started) longer than the
  ``child_down_limit`` setting (30 s by default);
- the collector is stopping;

and 200 otherwise. The answer is built from memory and never waits on a database: the
writer's health and the children's statuses are plain reads, and the lag figures come from
:class:`LagSampler`, which reads the stores once a second on a thread of its own.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from audience.clock import Clock
from audience.eventlog import EventFeed
from audience.http.components import LagProbe
from audience.jsontypes import JSON, JSONObject
from audience.log.health import LogHealth
from audience.storage.writer import WriterHealth
from audience.supervision import ChildStatus
from audience.tracking import format_timestamp

logger = logging.getLogger(__name__)

WRITER_STALL_LIMIT: Final = 5.0
"""Seconds the oldest unanswered append may wait before events count as uncommittable."""

FAILURE_MEMORY: Final = 30.0
"""Seconds a failed commit keeps the collector unready when no commit has succeeded since."""

SAMPLE_INTERVAL: Final = 1.0
"""Seconds between two readings of the newest position and the children's cursors."""

LagReader = Callable[[], JSON]


@dataclass(frozen=True)
class LagSample:
    """The newest committed position and how far each child is behind it, read at ``taken_at``.

    A figure that could not be read is ``None``.
    """

    last_seq: int | None
    lags: Mapping[str, JSON]
    taken_at: datetime


@dataclass(frozen=True)
class Readiness:
    """The verdict: ``ready`` (200) or not (503), the ``problems`` why not, and the body."""

    ready: bool
    problems: list[str]
    body: JSONObject

    @property
    def status_code(self) -> int:
        """200 when ready, else 503."""
        return 200 if self.ready else 503


def writer_problems(writer: WriterHealth) -> list[str]:
    """Why events cannot be committed now; empty when they can."""
    problems = []
    if not writer.running:
        problems.append("the event writer has stopped")
    if writer.oldest_wait > WRITER_STALL_LIMIT:
        problems.append(
            f"the oldest queued append has waited {writer.oldest_wait:.1f} s "
            f"(limit {WRITER_STALL_LIMIT:g} s)"
        )
    failed_lately = (
        writer.since_last_failure is not None and writer.since_last_failure < FAILURE_MEMORY
    )
    if writer.failures_in_a_row and failed_lately:
        problems.append(f"the last {writer.failures_in_a_row} commit(s) failed")
    return problems


def assess(
    writer: WriterHealth,
    children: Sequence[ChildStatus],
    sample: LagSample | None,
    *,
    stopping: bool,
    child_down_limit: float,
    now: float,
    log: LogHealth | None = None,
) -> Readiness:
    """Readiness from the writer's health, the children's statuses and the last lag sample,
    and the replicated log's health when there is one (events are accepted through it).

    ``now`` is the monotonic time the children's ``down_since`` is measured on.
    """
    committing = writer_problems(writer) + ([] if log is None else log.problems())
    problems = list(committing)
    for child in children:
        down = child.down_for(now)
        if down > child_down_limit:
            problems.append(
                f"child {child.name} has been down for {down:.0f} s (limit {child_down_limit:g} s)"
            )
    if stopping:
        problems.append("the collector is stopping")
    lags = sample.lags if sample is not None else {}
    body: JSONObject = {
        "status": "unavailable" if problems else "ready",
        "problems": problems,
        "events": {
            "canCommit": not committing,
            "lastSeq": None if sample is None else sample.last_seq,
            "queuedAppends": writer.queued,
            "oldestAppendWaitSeconds": round(writer.oldest_wait, 3),
            "failedCommitsInARow": writer.failures_in_a_row,
            "secondsSinceLastCommit": _seconds(writer.since_last_commit),
        },
        "children": {
            child.name: {**child.to_json(now), "lag": lags.get(child.name)} for child in children
        },
        "lagSampledAt": None if sample is None else format_timestamp(sample.taken_at),
    }
    if log is not None:
        body["log"] = log.to_json()
    return Readiness(not problems, problems, body)


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


class LagSampler:
    """Reads the newest position and each child's lag every ``interval`` seconds, on a thread.

    ``latest`` is the last sample (``None`` before the first); reading it never waits.
    ``on_sample`` is called with each new sample on the sampler's thread (the metrics' gauges).
    """

    def __init__(
        self,
        feed: EventFeed,
        probes: Mapping[str, LagProbe],
        clock: Clock,
        interval: float = SAMPLE_INTERVAL,
        on_sample: Callable[[LagSample], None] | None = None,
    ) -> None:
        self._feed = feed
        self._probes = dict(probes)
        self._clock = clock
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing: set[str] = set()
        self._on_sample = on_sample
        self.latest: LagSample | None = None

    def start(self) -> None:
        """Take samples until ``stop``."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="audience-lag", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop sampling; a reading stuck on a database is left behind (a daemon thread)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self._interval)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.latest = self.sample()
            if self._on_sample is not None:
                try:
                    self._on_sample(self.latest)
                except Exception:
                    logger.exception("publishing the lag sample failed")
            self._stop.wait(self._interval)

    def sample(self) -> LagSample:
        """Read the stores once."""
        last_seq = self._read("the newest position", self._feed.last_seq)
        lags: dict[str, JSON] = {}
        if last_seq is not None:
            newest = last_seq
            for name, probe in self._probes.items():
                lags[name] = self._read(f"the lag of {name}", functools.partial(probe, newest))
        return LagSample(last_seq, lags, self._clock.now())

    def _read(self, what: str, read: LagReader) -> JSON:
        try:
            value = read()
        except Exception:
            # A store that fails for a while must not fill the log once a second.
            if what not in self._failing:
                logger.warning("reading %s for /readyz failed", what, exc_info=True)
                self._failing.add(what)
            return None
        self._failing.discard(what)
        return value
