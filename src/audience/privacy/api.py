"""The regulations API, behind the admin token (or an admin's login session).

- ``POST /api/regulations`` with ``{"regulationType", "subjectType", "subjectIds": [...]}`` ->
  202 ``{"regulation": {...}}``: the regulation is recorded ``RUNNING`` and run in the
  background; a bad body gets 400 naming the field and the reason.
- ``GET /api/regulations?limit=&before=`` -> ``{"regulations": [...], "next"}``, newest first.
- ``GET /api/regulations/{id}`` -> ``{"regulation": {...}}`` with its progress step by step
  (``resolve``, ``suppress``, ``profiles``, ``events``, ``deliveries``, ``final_pass``,
  ``unsuppress``: each ``pending``, ``done`` or ``failed`` with a count); 404 when unknown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Final

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from audience.errors import PayloadTooLargeError, QueryError, ValidationError
from audience.http.admin_guard import AdminGuard
from audience.http.body import read_body
from audience.http.query_params import QueryReader
from audience.http.replies import JSONReply, error_reply, invalid_query_reply
from audience.privacy.desk import RegulationDesk
from audience.privacy.regulations import Requester, RequesterKind, parse_request

MAX_BODY_BYTES: Final = 2 * 1024 * 1024
"""5000 subject ids of 400 characters fit."""

DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 500


class RegulationApi:
    """``/api/regulations``: request a regulation, list them, follow one."""

    def __init__(
        self, desk: RegulationDesk, guard: AdminGuard, wake: Callable[[], None] | None = None
    ) -> None:
        self._desk = desk
        self._guard = guard
        self._wake = wake

    def routes(self) -> list[Route]:
        """The three routes, each needing the admin token."""
        protect = self._guard.protect
        return [
            Route("/api/regulations", protect(self._create), methods=["POST"]),
            Route("/api/regulations", protect(self._list), methods=["GET"]),
            Route("/api/regulations/{regulation_id}", protect(self._get), methods=["GET"]),
        ]

    async def _create(self, request: Request) -> Response:
        try:
            raw = await read_body(
                _chunks(request),
                limit=MAX_BODY_BYTES,
                content_length=request.headers.get("content-length"),
                content_encoding=request.headers.get("content-encoding"),
            )
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise ValidationError("body", f"is not JSON: {exc}") from exc
            judged = parse_request(body)
        except PayloadTooLargeError as exc:
            return error_reply(413, "payload_too_large", str(exc), [f"{exc.what}: {exc}"])
        except ValidationError as exc:
            return error_reply(400, "invalid_request", str(exc), [str(exc)])
        regulation = await run_in_threadpool(self._desk.request, judged, requester(request))
        if self._wake is not None:
            self._wake()
        return JSONReply({"regulation": regulation.to_json()}, 202)

    async def _list(self, request: Request) -> Response:
        query = QueryReader(request.query_params.multi_items())
        limit = query.integer("limit", default=DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
        before = query.text("before")
        try:
            query.finish()
        except QueryError as exc:
            return invalid_query_reply(exc)
        found = await run_in_threadpool(self._desk.list, limit + 1, before)
        page = found[:limit]
        return JSONReply(
            {
                "regulations": [regulation.to_json() for regulation in page],
                "next": page[-1].id if len(found) > limit else None,
            }
        )

    async def _get(self, request: Request) -> Response:
        regulation_id = request.path_params["regulation_id"]
        regulation = await run_in_threadpool(self._desk.get, regulation_id)
        if regulation is None:
            return error_reply(404, "not_found", f"no regulation is named {regulation_id!r}")
        return JSONReply({"regulation": regulation.to_json()})


def requester(request: Request) -> Requester:
    """Who asked: the bearer of the admin token, or an admin's login session; and from where."""
    bearer = request.headers.get("authorization", "").lower().startswith("bearer ")
    kind = RequesterKind.ADMIN_TOKEN if bearer else RequesterKind.SESSION
    return Requester(kind, request.client.host if request.client else "")


async def _chunks(request: Request) -> AsyncIterator[bytes]:
    async for chunk in request.stream():
        yield chunk
