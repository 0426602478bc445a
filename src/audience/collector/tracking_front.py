"""The front of the collector's ASGI stack: the tracking routes, answered in one layer.

Nearly every request is one event from a browser, and the middleware of the application
(request ids, metrics, CORS, the error page of the last resort) each take their turn at it and
at its reply. ``TrackingFront`` does for a tracking route (``TrackingApi.kind_of``) what that
stack would do, in one pass over the request headers, and sends the usual reply with its
headers written once:

- the request id is kept or drawn, bound for the log lines the request causes and sent back
  as ``X-Request-Id`` (:mod:`audience.http.request_ids`);
- the request is counted and timed by route and status (:mod:`audience.collector.metrics`);
- CORS headers go on every reply and a preflight is answered 204 (:mod:`audience.collector.cors`);
- a method other than POST is answered 405 with ``Allow: POST``;
- an unexpected error is answered with Starlette's plain 500 (without the headers above, as
  its error middleware sends it) and raised on to the server, which logs it.

Every other request goes to the application behind, through all of its middleware.
"""

from __future__ import annotations

import time
from typing import Final

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from audience import logs
from audience.clock import IdFactory
from audience.collector.cors import preflight_headers, reply_headers
from audience.collector.metrics import Metrics, route_label
from audience.collector.tracking_api import TRACKING_HEADERS, TrackingApi
from audience.http.replies import error_reply
from audience.http.request_ids import HEADER as REQUEST_ID
from audience.http.request_ids import sane_id, with_id_header

_ORIGIN: Final = b"origin"
_REQUESTED_HEADERS: Final = b"access-control-request-headers"
_JSON: Final = (b"content-type", b"application/json")


class TrackingFront:
    """ASGI: the tracking routes answered here whole, every other request passed to ``app``."""

    def __init__(self, app: ASGIApp, api: TrackingApi, metrics: Metrics, ids: IdFactory) -> None:
        self.app = app
        self.api = api
        self.metrics = metrics
        self.ids = ids

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        kind = self.api.kind_of(path)
        if kind is None:
            await self.app(scope, receive, send)
            return
        started_at = time.perf_counter()
        status = 500
        response_started = False
        headers: dict[str, str] = {}
        origin: bytes | None = None
        requested: bytes | None = None
        request_id: str | None = None
        id_seen = False
        for name, value in scope["headers"]:
            if name in TRACKING_HEADERS:
                headers[name.decode("latin-1")] = value.decode("latin-1")
            elif name == _ORIGIN:
                if origin is None:
                    origin = bytes(value)
            elif name == REQUEST_ID:
                if not id_seen:
                    id_seen = True
                    request_id = sane_id(value)
            elif name == _REQUESTED_HEADERS and requested is None:
                requested = bytes(value)
        if request_id is None:
            request_id = self.ids.new()
        id_header = (REQUEST_ID, request_id.encode("ascii"))

        async def send_reply(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = int(message["status"])
                response_started = True
                cors = reply_headers(origin)
                message["headers"] = with_id_header([*message.get("headers", []), *cors], id_header)
            await send(message)

        token = logs.request_id.set(request_id)
        try:
            try:
                method = scope["method"]
                if method == "POST":
                    answer = await self.api.answer(kind, scope, receive, headers)
                    if isinstance(answer, bytes):
                        status, response_started = 200, True
                        reply = [_JSON, (b"content-length", str(len(answer)).encode())]
                        reply += reply_headers(origin)
                        reply.append(id_header)
                        await send({"type": "http.response.start", "status": 200, "headers": reply})
                        await send({"type": "http.response.body", "body": answer})
                    else:
                        await answer(scope, receive, send_reply)
                elif method == "OPTIONS":
                    status, response_started = 204, True
                    preflight = preflight_headers(origin, requested)
                    preflight.append(id_header)
                    await send({"type": "http.response.start", "status": 204, "headers": preflight})
                    await send({"type": "http.response.body", "body": b""})
                else:
                    refusal = error_reply(405, "method_not_allowed", "use POST")
                    refusal.headers["Allow"] = "POST"
                    await refusal(scope, receive, send_reply)
            finally:
                logs.request_id.reset(token)
        except Exception:
            if not response_started:
                await PlainTextResponse("Internal Server Error", status_code=500)(
                    scope, receive, send
                )
            raise
        finally:
            self.metrics.request_done(route_label(path), status, time.perf_counter() - started_at)
