"""The admin read API: stored events, sources and ingestion counts, behind the admin token.

- ``GET /api/events?source=&limit=&type=&userId=&anonymousId=&event=`` -> ``{"events": [...]}``,
  stored messages newest first.
- ``GET /api/sources`` -> ``{"sources": [{"name", "writeKey", "createdAt"}]}``.
- ``GET /api/stats`` -> events stored, duplicates and drops by reason since the start.
"""

from __future__ import annotations

from typing import Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from audience.collector.auth import AdminGuard
from audience.collector.metrics import Metrics
from audience.collector.replies import JSONReply, error_reply
from audience.storage.base import EventFilter, EventQuery, SourceRegistry
from audience.tracking import MESSAGE_TYPES

DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1000


class AdminApi:
    """Read-only JSON over the event store for operators and tests."""

    def __init__(
        self,
        events: EventQuery,
        sources: SourceRegistry,
        guard: AdminGuard,
        metrics: Metrics,
    ) -> None:
        self._events = events
        self._sources = sources
        self._guard = guard
        self._metrics = metrics

    def routes(self) -> list[Route]:
        """``/api/events``, ``/api/sources`` and ``/api/stats``, all needing the admin token."""
        protect = self._guard.protect
        return [
            Route("/api/events", protect(self._list_events), methods=["GET"]),
            Route("/api/sources", protect(self._list_sources), methods=["GET"]),
            Route("/api/stats", protect(self._stats), methods=["GET"]),
        ]

    async def _list_events(self, request: Request) -> Response:
        query = request.query_params
        raw_limit = query.get("limit", str(DEFAULT_LIMIT))
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
            return error_reply(
                400, "invalid_request", f"limit: must be a whole number from 1 to {MAX_LIMIT}"
            )
        kind = query.get("type")
        if kind is not None and kind not in MESSAGE_TYPES:
            return error_reply(400, "invalid_request", f"type: must be one of {MESSAGE_TYPES}")
        event_filter = EventFilter(
            source=query.get("source"),
            type=kind,
            user_id=query.get("userId"),
            anonymous_id=query.get("anonymousId"),
            event=query.get("event"),
        )
        stored = await run_in_threadpool(self._events.recent, event_filter, int(raw_limit))
        return JSONReply({"events": [event.message for event in stored]})

    async def _list_sources(self, request: Request) -> Response:
        sources = await run_in_threadpool(self._sources.list_sources)
        return JSONReply(
            {
                "sources": [
                    {"name": s.name, "writeKey": s.write_key, "createdAt": s.created_at}
                    for s in sources
                ]
            }
        )

    async def _stats(self, request: Request) -> Response:
        return JSONReply(self._metrics.snapshot())
