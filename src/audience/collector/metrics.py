"""Collector metrics: stored, duplicate and dropped events, request latency; Prometheus text.

Counts live in memory since the process started. ``MetricsMiddleware`` times every
request; ``Metrics`` is also the ingestion observer, so the same numbers appear in
``/metrics``, in ``/api/stats`` and (for drops) in the log. ``render_state`` adds gauges of
the writer's queue, the children and their lags, read from what ``/readyz`` reads.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from audience.http.readiness import LagSample
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


class _Histogram:
    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.total += seconds


class Metrics:
    """Counters and histograms of one collector process; safe to call from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stored: Counter[str] = Counter()
        self._duplicates: Counter[str] = Counter()
        self._dropped: Counter[tuple[str, str]] = Counter()
        self._requests: Counter[tuple[str, int]] = Counter()
        self._latency: dict[str, _Histogram] = {}
        self._pruned = 0
        self._retention_runs: Counter[str] = Counter()

    def events_stored(self, source: str, stored: int, duplicates: int) -> None:
        """Count committed events and duplicates of ``source``."""
        with self._lock:
            self._stored[source] += stored
            self._duplicates[source] += duplicates

    def events_dropped(self, source: str, reasons: Mapping[str, int]) -> None:
        """Count refused events of ``source`` by reason."""
        with self._lock:
            for reason, count in reasons.items():
                self._dropped[(source, reason)] += count

    def retention_ran(self, outcome: str, pruned: int = 0) -> None:
        """Count one retention run (``ok``, ``failed``) and the events it pruned."""
        with self._lock:
            self._retention_runs[outcome] += 1
            self._pruned += pruned

    def request_done(self, route: str, status: int, seconds: float) -> None:
        """Count one finished request and its latency."""
        with self._lock:
            self._requests[(route, status)] += 1
            histogram = self._latency.get(route)
            if histogram is None:
                histogram = self._latency[route] = _Histogram()
            histogram.observe(seconds)

    def snapshot(self) -> dict[str, Any]:
        """The counters as JSON for the admin API."""
        with self._lock:
            dropped: dict[str, dict[str, int]] = {}
            for (source, reason), count in sorted(self._dropped.items()):
                dropped.setdefault(source, {})[reason] = count
            return {
                "stored": dict(self._stored),
                "duplicates": dict(self._duplicates),
                "dropped": dropped,
                "requests": {
                    f"{route} {status}": count
                    for (route, status), count in sorted(self._requests.items())
                },
            }

    def render(self) -> str:
        """The Prometheus text exposition format, version 0.0.4."""
        lines: list[str] = []
        with self._lock:
            _counter(
                lines,
                "audience_events_stored_total",
                "Events committed to the store.",
                {(("source", s),): n for s, n in self._stored.items()},
            )
            _counter(
                lines,
                "audience_events_duplicate_total",
                "Events not stored again because their messageId was already stored.",
                {(("source", s),): n for s, n in self._duplicates.items()},
            )
            _counter(
                lines,
                "audience_events_dropped_total",
                "Events refused, by reason.",
                {(("source", s), ("reason", r)): n for (s, r), n in self._dropped.items()},
            )
            _counter(
                lines,
                "audience_events_pruned_total",
                "Events deleted by retention.",
                {(): self._pruned},
            )
            _counter(
                lines,
                "audience_retention_runs_total",
                "Retention runs, by outcome.",
                {(("outcome", o),): n for o, n in self._retention_runs.items()},
            )
            _counter(
                lines,
                "audience_http_requests_total",
                "HTTP requests answered, by route and status.",
                {(("route", r), ("status", str(c))): n for (r, c), n in self._requests.items()},
            )
            lines.append("# HELP audience_http_request_duration_seconds Time to answer a request.")
            lines.append("# TYPE audience_http_request_duration_seconds histogram")
            for route, histogram in sorted(self._latency.items()):
                cumulative = 0
                for bound, count in zip(
                    (*LATENCY_BUCKETS, float("inf")), histogram.counts, strict=True
                ):
                    cumulative += count
                    le = "+Inf" if bound == float("inf") else repr(bound)
                    lines.append(
                        "audience_http_request_duration_seconds_bucket"
                        f'{{route="{route}",le="{le}"}} {cumulative}'
                    )
                lines.append(
                    f'audience_http_request_duration_seconds_sum{{route="{route}"}} '
                    f"{histogram.total}"
                )
                lines.append(
                    f'audience_http_request_duration_seconds_count{{route="{route}"}} {cumulative}'
                )
        return "\n".join(lines) + "\n"


def _counter(
    lines: list[str], name: str, help_text: str, values: Mapping[tuple[tuple[str, str], ...], int]
) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} counter")
    for labels, value in sorted(values.items()):
        rendered = ",".join(f'{key}="{_escape(text)}"' for key, text in labels)
        lines.append(f"{name}{{{rendered}}} {value}" if rendered else f"{name} {value}")


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


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


def render_state(
    writer: WriterHealth, children: Sequence[ChildStatus], sample: LagSample | None
) -> str:
    """Gauges of what runs beside the requests, in the same format as ``Metrics.render``: the
    writer's queue, each child's state and restarts, and the lags of the last sample
    (the resolver's, and each destination's under the dispatcher)."""
    lines: list[str] = []
    _gauge(
        lines,
        "audience_writer_queued_appends",
        "Appends waiting for the event writer.",
        {(): writer.queued},
    )
    _gauge(
        lines,
        "audience_writer_oldest_append_wait_seconds",
        "How long the oldest append not yet committed has waited.",
        {(): round(writer.oldest_wait, 6)},
    )
    _gauge(
        lines,
        "audience_writer_failed_commits_in_a_row",
        "Commits that failed since the last one that succeeded.",
        {(): writer.failures_in_a_row},
    )
    _gauge(
        lines,
        "audience_child_up",
        "1 while the child process runs, else 0.",
        {(("child", child.name),): int(child.state == "running") for child in children},
    )
    _counter(
        lines,
        "audience_child_restarts_total",
        "Times the child process was started again after it died.",
        {(("child", child.name),): child.restarts for child in children},
    )
    lags = {} if sample is None else sample.lags
    resolver = lags.get("resolver")
    _gauge(
        lines,
        "audience_resolver_lag_events",
        "Committed events the resolver has not applied yet.",
        {(): resolver} if isinstance(resolver, int) else {},
    )
    destinations = lags.get("dispatcher")
    _gauge(
        lines,
        "audience_destination_lag_events",
        "Committed events behind each destination's cursor.",
        {
            (("destination", name),): lag
            for name, lag in (destinations.items() if isinstance(destinations, dict) else ())
            if isinstance(lag, int)
        },
    )
    if sample is not None and isinstance(sample.last_seq, int):
        _gauge(
            lines,
            "audience_events_last_seq",
            "The newest committed position.",
            {(): sample.last_seq},
        )
    return "\n".join(lines) + "\n"


def _gauge(
    lines: list[str],
    name: str,
    help_text: str,
    values: Mapping[tuple[tuple[str, str], ...], float],
) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} gauge")
    for labels, value in sorted(values.items()):
        rendered = ",".join(f'{key}="{_escape(text)}"' for key, text in labels)
        lines.append(f"{name}{{{rendered}}} {value}" if rendered else f"{name} {value}")
