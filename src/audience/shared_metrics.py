"""Metrics shared by every process of ``audience serve``: prometheus_client's multiprocess mode.

``audience serve`` makes a folder for the metrics (``prepare``) and names it in
``PROMETHEUS_MULTIPROC_DIR`` before any metric exists; every process it starts (the collector
workers, the resolver and dispatcher children, all spawned) inherits the variable, and each
writes its own values to memory-mapped files there. A scrape of ``/metrics`` in any collector
reads all of them (``exposition``), so counters add up over every process and a gauge is
combined by its mode (the sum, or the maximum, over the processes still alive). A process that
ends is marked dead (``process_gone``), so its live gauges drop out.

Without the variable (the application built in a test, say) each registry counts in memory, in
its own process alone.

Process metrics (memory, CPU, open files) are gauges of each process, labelled with its role
and pid, published by ``ProcessGauges`` at most once a second.
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric

# prometheus_client is imported where it is used: a child process starts without paying for it
# before it says it has started.

ENVIRONMENT: Final = "PROMETHEUS_MULTIPROC_DIR"
"""The variable naming the metrics folder, read by prometheus_client in every process."""

READ_ATTEMPTS: Final = 5
"""Readings of the shared folder one scrape tries before it fails."""

READ_PAUSE: Final = 0.02
"""Seconds between two readings of the shared folder."""

PROCESS_INTERVAL: Final = 1.0
"""Seconds between two readings of a process's own memory and CPU."""


def _without_created_samples() -> None:
    import prometheus_client

    # The ``_created`` samples would only double the output.
    prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]


def prepare() -> Path | None:
    """Name an empty metrics folder in ``PROMETHEUS_MULTIPROC_DIR`` for this process and every
    process it starts; the folder to remove at the end when it was made here.

    A folder the variable already names is used, emptied of an earlier run's files first.
    """
    given = os.environ.get(ENVIRONMENT)
    made: Path | None = None
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()
    else:
        made = Path(tempfile.mkdtemp(prefix="audience-metrics-"))
        os.environ[ENVIRONMENT] = str(made)
    from prometheus_client import values

    # prometheus_client chose how to keep values when it was imported: choose again.
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    return made


def remove(folder: Path | None) -> None:
    """Remove the metrics folder ``prepare`` made (nothing when it made none)."""
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def shared() -> bool:
    """Whether this process's metrics go to the shared folder."""
    return bool(os.environ.get(ENVIRONMENT))


def exposition(own: CollectorRegistry) -> bytes:
    """The Prometheus text of every process's metrics when shared, else of ``own``."""
    from prometheus_client import generate_latest

    return generate_latest(_Read(families(own)))


def families(own: CollectorRegistry) -> list[Metric]:
    """Every process's metric families when shared (read again when a file changed under the
    reading), else those of ``own``."""
    if not shared():
        return list(own.collect())
    from prometheus_client import CollectorRegistry, multiprocess

    forget_the_dead(Path(os.environ[ENVIRONMENT]))
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    for attempt in range(READ_ATTEMPTS):
        try:
            return list(registry.collect())
        except (OSError, ValueError, RuntimeError, struct.error):
            # A process was creating its file (still empty) or marked dead (file removed)
            # between listing the folder and reading it.
            if attempt == READ_ATTEMPTS - 1:
                raise
            time.sleep(READ_PAUSE)
    return []


def forget_the_dead(folder: Path) -> None:
    """Mark dead every process with live gauges in ``folder`` that no longer runs: a worker
    or a child that ended without being marked (killed, or its parent gone first)."""
    pids: set[int] = set()
    for path in folder.glob("gauge_live*_*.db"):
        digits = path.stem.rpartition("_")[2]
        if digits.isdigit():
            pids.add(int(digits))
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            process_gone(pid)
        except PermissionError:
            continue  # it runs, as another user


class _Read:
    """Families already read, as a collector ``generate_latest`` takes."""

    def __init__(self, read: list[Metric]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        return iter(self._read)


def process_gone(pid: int) -> None:
    """Forget the live gauges of the process ``pid``, which has ended."""
    if shared():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


class ProcessGauges:
    """This process's resident memory, CPU seconds and open files, labelled with its ``role``
    (and, when shared, its pid)."""

    def __init__(self, role: str, registry: CollectorRegistry | None = None) -> None:
        from prometheus_client import Gauge
        from prometheus_client.process_collector import ProcessCollector

        _without_created_samples()
        self.role = role
        self._reader = ProcessCollector(registry=None)
        self._gauges = {
            "process_resident_memory_bytes": Gauge(
                "audience_process_resident_memory_bytes",
                "Resident memory of each process.",
                ["role"],
                registry=registry,
                multiprocess_mode="liveall",
            ),
            "process_cpu_seconds_total": Gauge(
                "audience_process_cpu_seconds",
                "CPU time (user and system) each process has used.",
                ["role"],
                registry=registry,
                multiprocess_mode="liveall",
            ),
            "process_open_fds": Gauge(
                "audience_process_open_fds",
                "Open file descriptors of each process.",
                ["role"],
                registry=registry,
                multiprocess_mode="liveall",
            ),
        }
        self._last = -PROCESS_INTERVAL

    def publish(self) -> None:
        """Read this process's figures and set the gauges, at most once a ``PROCESS_INTERVAL``."""
        now = time.monotonic()
        if now - self._last < PROCESS_INTERVAL:
            return
        self._last = now
        for family in self._reader.collect():
            for sample in family.samples:
                gauge = self._gauges.get(sample.name)
                if gauge is not None:
                    gauge.labels(self.role).set(sample.value)
