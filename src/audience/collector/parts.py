"""The collector's parts, handed to whatever runs beside it: in its process, or as a child."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from starlette.routing import BaseRoute

from audience.clock import Clock, IdFactory
from audience.collector.auth import AdminGuard, SourceResolver
from audience.collector.ingest import Ingestor
from audience.collector.metrics import Metrics
from audience.collector.proxies import TrustedProxies
from audience.config import Settings
from audience.jsontypes import JSON
from audience.storage.backend import EventStore
from audience.supervision import ChildSpec


class Component(Protocol):
    """Something started and stopped with the application in its own process (e.g. a store
    the routes read, closed at the end)."""

    async def start(self) -> None:
        """Begin working; called once when the application starts."""
        ...

    async def stop(self) -> None:
        """Finish and release resources; called once when the application stops."""
        ...


@dataclass(frozen=True)
class CollectorParts:
    """Everything the collector is built from.

    ``store`` is the event store: an ``EventFeed`` (``read_after``/``get_many``/``last_seq``),
    an ``EventQuery`` and a ``SourceRegistry``; ``store.add_commit_listener`` wakes readers
    after each commit. ``guard`` checks the admin token (``guard.protect`` for JSON routes,
    ``guard.protect_page`` for pages). ``ingestor`` is validate -> enrich -> commit without HTTP.
    ``proxies`` decides every forwarded header (the visitor's address, scheme and host).
    """

    settings: Settings
    store: EventStore
    ingestor: Ingestor
    sources: SourceResolver
    guard: AdminGuard
    metrics: Metrics
    clock: Clock
    ids: IdFactory
    proxies: TrustedProxies = field(default_factory=TrustedProxies)


LagProbe = Callable[[int], JSON]
"""How far a child is behind the newest committed ``seq`` it is given, read from its cursor
(an events count, or one per destination); run on a background thread of the collector."""


@dataclass(frozen=True)
class Child:
    """A worker run beside the collector as a supervised child process, woken by every commit.

    ``lag`` reads its committed cursor from the collector's side, so it keeps answering while
    the child is stopped or dead.
    """

    spec: ChildSpec
    lag: LagProbe


@dataclass(frozen=True)
class Extensions:
    """Routes, components and supervised children added to the collector's application."""

    routes: list[BaseRoute] = field(default_factory=list)
    components: list[Component] = field(default_factory=list)
    children: list[Child] = field(default_factory=list)
