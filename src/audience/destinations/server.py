"""Destinations inside ``audience serve``: the dispatcher as a background component, and
each destination's delivery state at ``GET /api/destinations`` and on ``/destinations``."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from audience.collector.auth import AdminGuard
from audience.collector.parts import CollectorParts, Extensions
from audience.collector.replies import JSONReply
from audience.destinations.dispatcher import BackgroundDispatcher, Dispatcher
from audience.destinations.page import destinations_page
from audience.destinations.postgres_choice import open_delivery_store
from audience.destinations.state import DeliveryStore
from audience.destinations.status import destination_statuses
from audience.eventlog import EventFeed


class DispatcherComponent:
    """Runs the dispatcher beside the collector; new commits wake it at once."""

    def __init__(self, parts: CollectorParts, store: DeliveryStore) -> None:
        self._store = store
        self._worker = BackgroundDispatcher(Dispatcher(parts.store, store, parts.clock))
        parts.store.add_commit_listener(self._worker.wake)

    async def start(self) -> None:
        self._worker.start()

    async def stop(self) -> None:
        await run_in_threadpool(self._worker.stop)
        await run_in_threadpool(self._store.close)


def destinations_route(store: DeliveryStore, feed: EventFeed, guard: AdminGuard) -> Route:
    """``GET /api/destinations`` (admin token): ``{"destinations": [status, ...]}``.

    Each status holds the settings with secrets hidden, ``cursor``, ``lag``,
    ``pending_events``, ``dead_events``, ``delivered_events`` and the last error.
    """

    async def list_destinations(request: Request) -> Response:
        statuses = await run_in_threadpool(destination_statuses, store, feed)
        return JSONReply({"destinations": [status.to_json() for status in statuses]})

    return Route("/api/destinations", guard.protect(list_destinations), methods=["GET"])


def destination_extensions(parts: CollectorParts) -> Extensions:
    """The admin route, the page and the dispatcher component ``audience serve`` adds."""
    store = open_delivery_store(parts.settings)
    routes: list[BaseRoute] = [
        destinations_route(store, parts.store, parts.guard),
        destinations_page(store, parts.store, parts.guard),
    ]
    return Extensions(routes=routes, components=[DispatcherComponent(parts, store)])
