"""Collector metrics: stored, duplicate and dropped events, request and commit latency, the
gauges of the writer, the children and their lags; Prometheus text.

The metrics are prometheus_client's, shared by every process of ``audience serve`` through
``audience.shared_metrics``. ``MetricsMiddleware`` times every request; ``Metrics`` is also
the ingestion observer, so the same numbers appear in ``/metrics``, in ``/api/stats`` and (for
drops) in the log. ``Metrics.publish_state`` sets the gauges from what ``/readyz`` reads, once
a second and before each scrape.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from audience.http.readiness import LagSample
from audience.log.health import LogHealth
from audience.shared_metrics import ProcessGauges, exposition, families
from audience.storage.writer import WriterHealth
from audience.supervision import ChildStatus

LATENCY_BUCKETS: Final = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)
"""Upper bounds in seconds of the request latency histogram."""

_SINGLE_ROUTES: Final = frozenset(
    ["identify", "track", "page", "screen", "group", "alias", "i", "t", "p", "s", "g", "a"]
)


def route_label(path: str) -> str:
    """A small fixed set of labels, so hostile paths cannot grow the metrics."""
    if path.startswith("/v1/"):
        rest = path[4:]
        if rest in ("batch", "b"):
            return "batch"
        if rest in _SINGLE_ROUTES:
            return "single"
        if rest == "m":
            return "telemetry"
        if rest.startswith("projects/"):
            return "settings"
        if rest.startswith("analytics-js/"):
            return "bundle"
        return "other"
    if path.startswith("/api/"):
        return "admin"
    return "other"


class Metrics:
    """The collector's counters, histograms and gauges; safe to call from any thread.

    Under ``audience serve`` every process writes to the shared metrics folder
    (``audience.shared_metrics``), so ``render`` and ``snapshot`` add up every collector
    worker's counts; otherwise they are this process's own.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self._stored = Counter(
            "audience_events_stored",
            "Events committed to the store.",
            ["source"],
            registry=registry,
        )
        self._duplicates = Counter(
            "audience_events_duplicate",
            "Events not stored again because their messageId was already stored.",
            ["source"],
            registry=registry,
        )
        self._dropped = Counter(
            "audience_events_dropped",
            "Events refused, by reason.",
            ["source", "reason"],
            registry=registry,
        )
        self._requests = Counter(
            "audience_http_requests",
            "HTTP requests answered, by route and status.",
            ["route", "status"],
            registry=registry,
        )
        self._latency = Histogram(
            "audience_http_request_duration_seconds",
            "Time to answer a request.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._commits = Histogram(
            "audience_commit_duration_seconds",
            "Time the event writer took to commit one group of appends.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._state = StateGauges(registry)
        self._process = ProcessGauges("collector", registry)
        self._restarts_seen: dict[str, int] = {}
        self._lock = threading.Lock()
        self._pruned = Counter(
            "audience_events_pruned",
            "Events deleted by retention.",
            registry=registry,
        )
        self._retention_runs = Counter(
            "audience_retention_runs",
            "Retention runs, by outcome.",
            ["outcome"],
            registry=registry,
        )
        # The series of each label set, found once: ``labels(...)`` looks it up under a lock.
        self._request_series: dict[tuple[str, int], tuple[Counter, Histogram]] = {}
        self._stored_series: dict[str, Counter] = {}

    def events_stored(self, source: str, stored: int, duplicates: int) -> None:
        """Count committed events and duplicates of ``source``."""
        if stored:
            series = self._stored_series.get(source)
            if series is None:
                series = self._stored_series.setdefault(source, self._stored.labels(source))
            series.inc(stored)
        if duplicates:
            self._duplicates.labels(source).inc(duplicates)

    def events_dropped(self, source: str, reasons: Mapping[str, int]) -> None:
        """Count refused events of ``source`` by reason."""
        for reason, count in reasons.items():
            self._dropped.labels(source, reason).inc(count)

    def retention_ran(self, outcome: str, pruned: int = 0) -> None:
        """Count one retention run (``ok``, ``failed``) and the events it pruned."""
        self._retention_runs.labels(outcome).inc()
        if pruned:
            self._pruned.inc(pruned)

    def request_done(self, route: str, status: int, seconds: float) -> None:
        """Count one finished request and its latency."""
        series = self._request_series.get((route, status))
        if series is None:
            found = (self._requests.labels(route, str(status)), self._latency.labels(route))
            series = self._request_series.setdefault((route, status), found)
        count, latency = series
        count.inc()
        latency.observe(seconds)

    def commit_done(self, seconds: float) -> None:
        """Note how long one commit of the event writer took (a commit timer of the store)."""
        self._commits.observe(seconds)

    def publish_state(
        self,
        writer: WriterHealth,
        children: Sequence[ChildStatus],
        sample: LagSample | None,
        log: LogHealth | None = None,
    ) -> None:
        """Set the gauges of what runs beside the requests: the writer's queue, each child's
        state and restarts, the lags of the last sample, the log's reachability and each
        partition's pending messages, and this process's own figures."""
        with self._lock:
            self._state.publish(writer, children, sample)
            if log is not None:
                self._state.publish_log(log)
            for child in children:
                seen = self._restarts_seen.get(child.name, 0)
                counter = self._state.restarts.labels(child.name)
                if child.restarts > seen:
                    counter.inc(child.restarts - seen)
                self._restarts_seen[child.name] = max(seen, child.restarts)
            self._process.publish()

    def snapshot(self) -> dict[str, Any]:
        """The event and request counters as JSON for the admin API."""
        stored: dict[str, int] = {}
        duplicates: dict[str, int] = {}
        dropped: dict[str, dict[str, int]] = {}
        requests: dict[str, int] = {}
        for family in families(self.registry):
            for sample in family.samples:
                labels, value = sample.labels, int(sample.value)
                if sample.name == "audience_events_stored_total":
                    stored[labels["source"]] = value
                elif sample.name == "audience_events_duplicate_total":
                    duplicates[labels["source"]] = value
                elif sample.name == "audience_events_dropped_total":
                    dropped.setdefault(labels["source"], {})[labels["reason"]] = value
                elif sample.name == "audience_http_requests_total":
                    requests[f"{labels['route']} {labels['status']}"] = value
        return {
            "stored": dict(sorted(stored.items())),
            "duplicates": dict(sorted(duplicates.items())),
            "dropped": {source: dict(sorted(by.items())) for source, by in sorted(dropped.items())},
            "requests": dict(sorted(requests.items())),
        }

    def render(self) -> str:
        """The Prometheus text exposition format, version 0.0.4, of every metric."""
        return exposition(self.registry).decode()


class StateGauges:
    """Gauges of the writer, the children and the lags, combined over the collector processes:
    queues add up; positions, waits and lags take the largest figure any live process read."""

    def __init__(self, registry: CollectorRegistry) -> None:
        def gauge(name: str, text: str, labels: Sequence[str], mode: Any) -> Gauge:
            return Gauge(name, text, labels, registry=registry, multiprocess_mode=mode)

        self.queued = gauge(
            "audience_writer_queued_appends",
            "Appends waiting for the event writer.",
            (),
            "livesum",
        )
        self.oldest_wait = gauge(
            "audience_writer_oldest_append_wait_seconds",
            "How long the oldest append not yet committed has waited.",
            (),
            "livemax",
        )
        self.failures = gauge(
            "audience_writer_failed_commits_in_a_row",
            "Commits that failed since the last one that succeeded.",
            (),
            "livemax",
        )
        self.child_up = gauge(
            "audience_child_up",
            "Child processes running (1 each, over every collector).",
            ("child",),
            "livesum",
        )
        self.restarts = Counter(
            "audience_child_restarts",
            "Times the child process was started again after it died.",
            ["child"],
            registry=registry,
        )
        self.resolver_lag = gauge(
            "audience_resolver_lag_events",
            "Committed events the resolver has not applied yet.",
            (),
            "livemax",
        )
        self.destination_lag = gauge(
            "audience_destination_lag_events",
            "Committed events behind each destination's cursor.",
            ("destination",),
            "livemax",
        )
        self.last_seq = gauge(
            "audience_events_last_seq", "The newest committed position.", (), "livemax"
        )
        self.log_reachable = gauge(
            "audience_log_reachable",
            "1 while the event log (NATS JetStream) is reachable, in every process using it.",
            (),
            "livemin",
        )
        self.log_pending = gauge(
            "audience_log_pending_messages",
            "Messages of a log partition its writer has not yet stored and acknowledged.",
            ("partition",),
            "livemax",
        )

    def publish_log(self, log: LogHealth) -> None:
        self.log_reachable.set(int(log.reachable))
        for partition, pending in log.pending.items():
            if pending is not None:
                self.log_pending.labels(str(partition)).set(pending)

    def publish(
        self, writer: WriterHealth, children: Sequence[ChildStatus], sample: LagSample | None
    ) -> None:
        self.queued.set(writer.queued)
        self.oldest_wait.set(round(writer.oldest_wait, 6))
        self.failures.set(writer.failures_in_a_row)
        for child in children:
            self.child_up.labels(child.name).set(int(child.state == "running"))
        if sample is None:
            return
        resolver = sample.lags.get("resolver")
        if isinstance(resolver, int):
            self.resolver_lag.set(resolver)
        destinations = sample.lags.get("dispatcher")
        if isinstance(destinations, dict):
            for name, lag in destinations.items():
                if isinstance(lag, int):
                    self.destination_lag.labels(name).set(lag)
        if isinstance(sample.last_seq, int):
            self.last_seq.set(sample.last_seq)


class MetricsMiddleware:
    """Times every HTTP request and counts it by route label and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            self.metrics.request_done(
                route_label(scope["path"]), status, time.perf_counter() - started
            )
