"""The resolver as a supervised child process, so that resolution and the collector use
different cores.

``audience serve`` runs the resolver in a child of its own (see :mod:`audience.supervision`):
it opens the stores the settings name, follows the log from the profile store's cursor, and
is woken by the collector's doorbell after each commit, then lets ``GATHER`` seconds of
commits come so that its next batch holds many requests' events (a batch costs much the same
for one event as for thousands); it also looks on its own every ``IDLE_WAIT`` seconds. Each
batch commits with its cursor, so a child started after a crash resumes after the last batch
the old one committed. It finishes its batch and exits when asked,
on SIGTERM, or when the collector is gone.
"""

from __future__ import annotations

import logging

from audience.config import Settings
from audience.errors import AudienceError
from audience.resolution.backend import open_profile_store
from audience.resolution.resolver import DEFAULT_BATCH, IDLE_WAIT, Resolver
from audience.shared_metrics import ProcessGauges
from audience.storage.backend import open_event_store
from audience.supervision import ChildLink, ChildSpec

logger = logging.getLogger(__name__)

CHILD_NAME = "resolver"

GATHER = 0.05
"""Seconds the resolver waits, once a commit has woken it from idle, before its next batch."""


def resolver_child(settings: Settings, *, batch_size: int = DEFAULT_BATCH) -> ChildSpec:
    """The resolver child of ``audience serve`` over the stores ``settings`` name."""
    return ChildSpec(
        CHILD_NAME,
        follow,
        (settings, batch_size),
        log_level=settings.log_level,
        log_format=settings.log_format,
    )


def follow(link: ChildLink, settings: Settings, batch_size: int) -> None:
    """The child's whole life: apply batches until it must stop."""
    events = open_event_store(settings)
    try:
        profiles = open_profile_store(settings)
    except BaseException:
        events.close()
        raise
    resolver = Resolver(events, profiles, batch_size=batch_size)
    link.started()
    from prometheus_client import Gauge  # once started: it takes a while to import

    # Written to the metrics folder the collector shares (audience.shared_metrics).
    cursor = Gauge(
        "audience_resolver_cursor",
        "The position of the last event the resolver applied.",
        multiprocess_mode="livemax",
    )
    process = ProcessGauges(CHILD_NAME)
    try:
        while not link.stopping:
            process.publish()
            try:
                applied = resolver.step()
            except AudienceError:
                logger.exception("resolution failed; retrying after a pause")
                link.wait(IDLE_WAIT)
                continue
            cursor.set(resolver.applied)
            if applied < batch_size and link.wait(IDLE_WAIT):
                link.pause(GATHER)
    finally:
        profiles.close()
        events.close()
