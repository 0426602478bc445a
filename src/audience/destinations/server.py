"""Destinations inside ``audience serve``: the dispatcher as a supervised child, and each
destination's delivery state at ``GET /api/destinations`` and on ``/destinations``."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from audience.collector.parts import CollectorParts
from audience.destinations.page import destinations_page
from audience.destinations.postgres_choice import open_delivery_store
from audience.destinations.state import DeliveryStore
from audience.destinations.status import destination_statuses
from audience.destinations.worker import dispatcher_child
from audience.errors import ConfigError
from audience.eventlog import EventFeed
from audience.http.admin_guard import AdminGuard
from audience.http.components import Child, Extensions
from audience.http.replies import JSONReply


class DeliveryStoreComponent:
    """Closes the delivery state the admin route and page read when the application stops."""

    def __init__(self, store: DeliveryStore) -> None:
        self._store = store

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        await run_in_threadpool(self._store.close)


def destination_lags(store: DeliveryStore, newest: int) -> dict[str, int]:
    """Each destination's events behind its cursor, when ``newest`` is the newest position."""
    lags: dict[str, int] = {}
    for config in store.configs():
        try:
            lags[config.name] = max(0, newest - store.cursor(config.name))
        except ConfigError:
            continue  # removed meanwhile
    return lags


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
    """The admin route, the page and the dispatcher child ``audience serve`` adds."""
    store = open_delivery_store(parts.settings)
    routes: list[BaseRoute] = [
        destinations_route(store, parts.store, parts.guard),
        destinations_page(store, parts.store, parts.guard),
    ]
    return Extensions(
        routes=routes,
        components=[DeliveryStoreComponent(store)],
        children=[
            Child(dispatcher_child(parts.settings), lambda newest: destination_lags(store, newest))
        ],
    )
