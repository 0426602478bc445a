"""The application ``audience serve`` runs: the collector with resolution, the destinations and
the pages beside it.

``build_server_app`` opens the event store the settings name, makes sure a first source and
an admin token exist, builds the collector's parts, opens the profile store and the delivery
state, and adds each feature's routes, components and supervised children (the resolver and
the dispatcher, each in a process of its own). ``server_app`` does the same from the
environment in each worker process of ``serve --workers``.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.applications import Starlette

from audience import logs
from audience.clock import SystemClock, UuidFactory
from audience.collector.app import FirstStart, build_parts, create_app, prepare_data
from audience.config import Settings, load_settings
from audience.destinations.backend import open_delivery_store
from audience.http.components import Component, Extensions
from audience.log.health import LogHealth
from audience.pages.login import login_page
from audience.privacy.parts import privacy_parts
from audience.resolution.backend import open_profile_store
from audience.serving.features import (
    destination_extensions,
    page_extensions,
    privacy_extensions,
    resolution_extensions,
)
from audience.serving.retention import Retention, RetentionPruner
from audience.storage.backend import EventStore, open_event_store

if TYPE_CHECKING:
    from audience.log.jetstream import JetStreamLog

SERVER_APP: str = "audience.serving.app:server_app"
"""Where each worker process of ``serve --workers`` finds its application."""


def build_server_app(settings: Settings) -> tuple[Starlette, FirstStart]:
    """The application ``audience serve`` runs, and what its first start made."""
    with ExitStack() as opened:
        store = open_event_store(settings)
        opened.callback(store.close)
        first = prepare_data(store, settings)
        clock, ids = SystemClock(), UuidFactory()
        privacy = privacy_parts(store, clock=clock, ids=ids)
        log = log_parts(settings, store)
        parts = build_parts(
            settings,
            store,
            admin_token=first.token_source(store),
            login_page=login_page,
            clock=clock,
            ids=ids,
            gate=privacy.gate,
            sink=log.sink,
        )
        profiles = open_profile_store(settings)
        opened.callback(profiles.close)
        deliveries = open_delivery_store(settings)
        opened.callback(deliveries.close)
        extensions = (
            destination_extensions(settings, deliveries, store, parts.guard)
            + resolution_extensions(settings, profiles, store, parts.guard)
            + page_extensions(
                settings,
                events=store,
                profiles=profiles,
                guard=parts.guard,
                proxies=parts.proxies,
                deliveries=deliveries,
            )
            # Last: its runner stops first, before the stores it deletes from are closed.
            + privacy_extensions(
                privacy, store, profiles, deliveries, parts.guard, clock=clock, ids=ids
            )
        )
        # Last, so it stops first: the stores it prunes with are closed after it.
        pruner = RetentionPruner(
            Retention(store, profiles, deliveries, days=settings.retention_days),
            parts.metrics,
            settings.retention_interval,
        )
        if settings.role == "collector":  # the writer's host runs the workers on the store
            extensions = Extensions(extensions.routes, extensions.components)
        app = create_app(
            parts,
            routes=extensions.routes,
            # The log first: it is stopped last, after the writer and everything else.
            components=[*log.components, *extensions.components, pruner],
            children=extensions.children,
            close_store=True,
            log=log.health,
            tracking=settings.role != "writer",
        )
        opened.pop_all()  # the application closes them when it stops
    return app, first


@dataclass(frozen=True)
class LogParts:
    """What the replicated log adds to a process: where the collector's events go (``None``:
    the event store), the components that run it, and its health."""

    sink: JetStreamLog | None = None
    components: tuple[Component, ...] = ()
    health: Callable[[], LogHealth] | None = None


def log_parts(settings: Settings, store: EventStore) -> LogParts:
    """The log ``settings`` name, none without ``log``: the collector publishes to it unless
    it only writes (``role`` writer), and a writer appends it to ``store`` unless it only
    collects (``role`` collector)."""
    if not settings.log:
        return LogParts()
    from audience.log.consumer import LogWriter  # nats-py loads only with a log
    from audience.log.jetstream import JetStreamLog
    from audience.log.link import LogOptions, NatsLink

    link = NatsLink(LogOptions.from_settings(settings), name=f"audience-{settings.role}")
    if settings.role == "collector":
        return LogParts(JetStreamLog(link), (link,), link.health)
    writer = LogWriter(link, store, holder=f"{socket.gethostname()}/{os.getpid()}")

    def health() -> LogHealth:
        return dataclasses.replace(link.health(), writer=writer.lease_state())

    return LogParts(JetStreamLog(link), (link, writer), health)


def server_app() -> Starlette:
    """``build_server_app`` from the environment's settings: each worker of ``serve --workers``.

    A worker is a fresh interpreter: it sets up logging as ``serve`` did, so that its
    children's deaths and restarts are logged too.
    """
    settings = load_settings()
    logs.configure(settings.log_level, settings.log_format, role="collector")
    app, _ = build_server_app(settings)
    return app
