"""The destinations' admin API: each destination's delivery state at ``GET /api/destinations``."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from audience.destinations.delivery_store import DeliveryStore
from audience.destinations.status import destination_statuses
from audience.eventlog import EventFeed
from audience.http.admin_guard import AdminGuard
from audience.http.replies import JSONReply


def destinations_route(store: DeliveryStore, feed: EventFeed, guard: AdminGuard) -> Route:
    """``GET /api/destinations`` (admin token): ``{"destinations": [status, ...]}``.

    Each status holds the settings with secrets hidden, ``cursor``, ``lag``,
    ``pending_events``, ``dead_events``, ``delivered_events`` and the last error.
    """

    async def list_destinations(request: Request) -> Response:
        statuses = await run_in_threadpool(destination_statuses, store, feed)
        return JSONReply({"destinations": [status.to_json() for status in statuses]})

    return Route("/api/destinations", guard.protect(list_destinations), methods=["GET"])
