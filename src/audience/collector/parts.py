"""The collector's parts: what its application is built from, made by ``build_parts``."""

from __future__ import annotations

from dataclasses import dataclass, field

from audience.clock import Clock, IdFactory
from audience.collector.ingest import Ingestor
from audience.collector.metrics import Metrics
from audience.collector.write_keys import SourceResolver
from audience.config import Settings
from audience.http.admin_guard import AdminGuard
from audience.http.proxies import TrustedProxies
from audience.storage.backend import EventStore


@dataclass(frozen=True)
class CollectorParts:
    """Everything the collector is built from.

    ``store`` is the event store: an ``EventFeed`` (``read_after``/``get_many``/``last_seq``),
    an ``EventQuery`` and a ``SourceRegistry``; ``store.add_commit_listener`` wakes readers
    after each commit. ``guard`` checks the admin token (``guard.protect`` for JSON routes,
    ``guard.protect_page`` for pages). ``ingestor`` is validate -> enrich -> commit without HTTP.
    ``proxies`` decides every forwarded header (the visitor's address, scheme and host).

    Only the collector's own application is built from these; the other features are handed
    the few parts each uses (the store, the guard, the proxies) by :mod:`audience.serving`.
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
