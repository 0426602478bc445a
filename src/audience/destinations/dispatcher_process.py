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
from audience.destinations.dispatcher import BackgroundDispatcher, Dispatcher
from audience.destinations.people import ProfileReader
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
        while not link.stopping:
            if link.wait(LOOK_INTERVAL):
                worker.wake()
    finally:
        worker.stop()
        if people is not None:
            people.close()
        state.close()
        events.close()
