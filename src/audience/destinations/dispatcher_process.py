"""The dispatcher as a supervised child process of ``audience serve``.

``audience serve`` delivers in a child of its own (see :mod:`audience.supervision`), on SQLite
and on PostgreSQL alike: the child opens the event log and the delivery state the settings
name and runs the :class:`~audience.destinations.dispatcher.BackgroundDispatcher`, one thread
per destination, each following the log from its destination's committed cursor. The
collector's doorbell wakes every destination after each commit. A child started after a crash
finds the batch the old one had in flight still open and sends it again, so nothing is lost.
It finishes the batches in flight and exits when asked, on SIGTERM, or when the collector is
gone. ``audience destinations run`` runs the same dispatcher in the foreground instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from audience.clock import SystemClock
from audience.config import Settings
from audience.destinations.backend import open_delivery_store
from audience.destinations.delivery_store import DeliveryStore
from audience.destinations.dispatcher import BackgroundDispatcher, Dispatcher
from audience.destinations.people import ProfileReader
from audience.errors import AudienceError
from audience.shared_metrics import ProcessGauges
from audience.storage.backend import open_event_store
from audience.supervision import ChildLink, ChildSpec

CHILD_NAME: Final = "dispatcher"

LOOK_INTERVAL: Final = 1.0
"""Seconds between looks at the stop line when no commit rings (the lanes poll on their own)."""


ProfileOpener = Callable[[Settings], ProfileReader]
"""Opens the profile store ``settings`` name (``resolution.backend.open_profile_store``): a
module-level function, so that it reaches the child process by name."""


def dispatcher_child(settings: Settings, profiles: ProfileOpener | None = None) -> ChildSpec:
    """The dispatcher child of ``audience serve`` over the stores ``settings`` name; the
    warehouses that keep people tables follow the profile store ``profiles`` opens."""
    return ChildSpec(
        CHILD_NAME,
        deliver,
        (settings, profiles),
        log_level=settings.log_level,
        log_format=settings.log_format,
    )


def deliver(link: ChildLink, settings: Settings, profiles: ProfileOpener | None) -> None:
    """The child's whole life: deliver until it must stop, then finish the batches in flight."""
    events = open_event_store(settings)
    try:
        state = open_delivery_store(settings)
    except BaseException:
        events.close()
        raise
    try:
        people = profiles(settings) if profiles is not None else None
    except BaseException:
        state.close()
        events.close()
        raise
    worker = BackgroundDispatcher(Dispatcher(events, state, SystemClock(), people=people))
    try:
        worker.start()
        link.started()
        gauges = DeliveryGauges(state)
        while not link.stopping:
            gauges.publish()
            if link.wait(LOOK_INTERVAL):
                worker.wake()
    finally:
        worker.stop()
        if people is not None:
            people.close()
        state.close()
        events.close()


class DeliveryGauges:
    """The pending and dead-lettered events of each destination, and this process's figures,
    written to the metrics folder the collector shares (``audience.shared_metrics``)."""

    def __init__(self, state: DeliveryStore) -> None:
        from prometheus_client import Gauge  # once started: it takes a while to import

        self._state = state
        self._process = ProcessGauges(CHILD_NAME)
        self._pending = Gauge(
            "audience_destination_pending_events",
            "Events in each destination's open batches, claimed and not yet delivered.",
            ["destination"],
            multiprocess_mode="livemax",
        )
        self._dead = Gauge(
            "audience_destination_dead_letter_events",
            "Events of each destination dead-lettered and not sent again since.",
            ["destination"],
            multiprocess_mode="livemax",
        )

    def publish(self) -> None:
        """Read the delivery state once and set the gauges; a failed read waits for the next."""
        self._process.publish()
        try:
            for config in self._state.configs():
                stats = self._state.stats(config.name)
                self._pending.labels(config.name).set(stats.pending_events)
                self._dead.labels(config.name).set(stats.dead_events)
        except AudienceError:
            return
