"""The admin read API: stored events, sources and ingestion counts, behind the admin token.

- ``GET /api/events?source=&type=&userId=&anonymousId=&event=&limit=&before=&after=`` ->
  ``{"events": [...], "next", "previous"}``: stored messages newest first, a page at a time.
  ``next`` is the cursor of the older page (pass it as ``before``), ``null`` once the oldest
  event is shown; ``previous`` that of the newer one (pass it as ``after``: the events stored
  since, oldest of them first, still listed newest first). The ``Link`` header carries both.
- ``GET /api/sources`` -> ``{"sources": [{"name", "writeKey", "createdAt"}]}``.
- ``GET /api/stats`` -> events stored, duplicates and drops by reason since the start.

A malformed parameter gets 400 naming it (see :mod:`audience.http.query_params`).
"""

from __future__ import annotations

from typing import Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from audience.collector.metrics import Metrics
from audience.errors import QueryError
from audience.eventlog import StoredEvent
from audience.http.admin_guard import AdminGuard
from audience.http.query_params import QueryReader
from audience.http.replies import JSONReply, invalid_query_reply
from audience.paging import Page, Position, backward_page, decode_cursor, forward_page, link_header
from audience.storage.base import EventFilter, EventQuery, SourceRegistry
from audience.tracking import MESSAGE_TYPES

DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1000
FILTERS: Final = {
    "source": "source",
    "userId": "user_id",
    "anonymousId": "anonymous_id",
    "event": "event",
}
"""Text filters of ``/api/events``: query name -> ``EventFilter`` field (``type`` is a choice)."""


def event_position(event: StoredEvent) -> Position:
    """Where an event stands in the log: its ``seq``."""
    return (event.seq,)


def seq_cursor(text: str) -> int:
    """The ``seq`` an events cursor holds; ``ValueError`` when it is not one."""
    (seq,) = decode_cursor(text, (int,))
    return int(seq)


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
        query = QueryReader(request.query_params.multi_items())
        filters = {field: query.text(name) for name, field in FILTERS.items()}
        kind = query.choice("type", MESSAGE_TYPES)
        limit = query.integer("limit", default=DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
        query.exclusive("before", "after")
        before = query.cursor("before", seq_cursor)
        after = query.cursor("after", seq_cursor)
        try:
            query.finish()
        except QueryError as exc:
            return invalid_query_reply(exc)
        event_filter = EventFilter(type=kind, **filters)
        page: Page[StoredEvent]
        if after is not None:
            rows = await run_in_threadpool(self._events.newer, event_filter, after, limit)
            page = backward_page(rows, limit, event_position)
        else:
            rows = await run_in_threadpool(self._events.recent, event_filter, limit + 1, before)
            page = forward_page(rows, limit, event_position)
        link = link_header(request.url.path, request.query_params, page, forward="before")
        return JSONReply(
            {
                "events": [event.message for event in page.items],
                "next": page.next,
                "previous": page.previous,
            },
            headers={"Link": link} if link else None,
        )

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
