"""The tracking API routes: ``/v1/{identify,track,page,screen,group,alias,batch}`` and short forms.

Each handler reads the body (capped, inflated), parses it as JSON whatever the
Content-Type, finds the source from the write key, and hands the rest to the
``Ingestor``. It answers 200 only once the stored events are committed.

Status codes: 200 accepted (in the default permissive mode bad events are dropped and
listed in ``meta``); 400 unreadable body, or any bad event with ``X-Strict-Mode: 1``;
401 missing or unknown write key; 413 over a size or count limit; 503 when the store
cannot commit (retry later).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Final

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from audience.collector.auth import (
    SourceResolver,
    write_key_from_authorization,
    write_key_from_body,
)
from audience.collector.body import read_body
from audience.collector.ingest import Ingestor, Submission
from audience.collector.proxies import TrustedProxies
from audience.collector.replies import JSONReply, error_reply
from audience.errors import (
    AuthenticationError,
    PayloadTooLargeError,
    StorageError,
    ValidationError,
)
from audience.tracking import MessageType

logger = logging.getLogger(__name__)

SINGLE_ROUTES: Final[dict[str, MessageType]] = {
    "identify": "identify",
    "track": "track",
    "page": "page",
    "screen": "screen",
    "group": "group",
    "alias": "alias",
    "i": "identify",
    "t": "track",
    "p": "page",
    "s": "screen",
    "g": "group",
    "a": "alias",
}
"""Path -> message type of the single-event routes, the browser's one-letter forms included."""

BATCH_ROUTES: Final = ("batch", "b")
TELEMETRY_LIMIT: Final = 64 * 1024

ACCEPTED: Final = orjson.dumps({})


class TrackingApi:
    """The ``/v1`` routes of the tracking API."""

    def __init__(
        self,
        ingestor: Ingestor,
        sources: SourceResolver,
        *,
        max_event_bytes: int,
        max_request_bytes: int,
        proxies: TrustedProxies | None = None,
    ) -> None:
        self._ingestor = ingestor
        self._sources = sources
        self._max_event_bytes = max_event_bytes
        self._max_request_bytes = max_request_bytes
        self._proxies = proxies or TrustedProxies()

    def routes(self) -> list[Route]:
        """Every tracking route, ready to mount at the application root."""
        routes = [
            Route(f"/v1/{path}", self._single_endpoint(kind), methods=["POST"])
            for path, kind in SINGLE_ROUTES.items()
        ]
        routes.extend(Route(f"/v1/{path}", self._batch, methods=["POST"]) for path in BATCH_ROUTES)
        routes.append(Route("/v1/m", self._telemetry, methods=["POST"]))
        return routes

    def _single_endpoint(self, kind: MessageType) -> Any:
        async def single(request: Request) -> Response:
            return await self._accept(request, kind, self._max_event_bytes)

        single.__name__ = f"post_{kind}"
        return single

    async def _batch(self, request: Request) -> Response:
        return await self._accept(request, None, self._max_request_bytes)

    async def _telemetry(self, request: Request) -> Response:
        """The browser's own telemetry (``/v1/m``): read within a cap and discarded."""
        with contextlib.suppress(PayloadTooLargeError, ValidationError):
            await read_body(
                request.stream(),
                limit=TELEMETRY_LIMIT,
                content_length=request.headers.get("content-length"),
                content_encoding=request.headers.get("content-encoding"),
            )
        return Response(ACCEPTED, media_type="application/json")

    async def _accept(self, request: Request, kind: MessageType | None, limit: int) -> Response:
        strict = request.headers.get("x-strict-mode", "").strip().lower() in ("1", "true")
        headers = request.headers
        try:
            header_key = write_key_from_authorization(headers.get("authorization"))
            source = self._sources.resolve(header_key) if header_key else None
            raw = await read_body(
                request.stream(),
                limit=limit,
                content_length=headers.get("content-length"),
                content_encoding=headers.get("content-encoding"),
            )
            body = _parse(raw)
            if source is None:
                key = write_key_from_body(body) or request.query_params.get("writeKey")
                source = self._sources.resolve(key)
            peer = request.client.host if request.client else None
            client_ip = self._proxies.client_address(peer, headers.get("x-forwarded-for"))
            prepared = self._ingestor.prepare(Submission(source.name, body, kind, client_ip))
            if strict and prepared.rejections:
                self._ingestor.refuse(prepared)
                return error_reply(
                    400,
                    "invalid_events",
                    f"{prepared.dropped} message(s) are not valid; nothing was stored",
                    [str(rejection) for rejection in prepared.rejections],
                )
            outcome = await asyncio.wrap_future(self._ingestor.commit(prepared))
        except AuthenticationError as exc:
            return error_reply(401, "unauthorized", str(exc))
        except PayloadTooLargeError as exc:
            return error_reply(413, "payload_too_large", str(exc), [f"{exc.what}: {exc}"])
        except ValidationError as exc:
            return error_reply(400, "invalid_request", str(exc), [str(exc)])
        except StorageError as exc:
            logger.error("events not stored: %s", exc)
            return error_reply(
                503, "unavailable", "the events could not be stored", headers={"Retry-After": "1"}
            )
        if not outcome.rejections:
            return Response(ACCEPTED, media_type="application/json")
        return JSONReply(
            {
                "meta": {
                    "stored": outcome.stored,
                    "duplicates": outcome.duplicates,
                    "dropped": outcome.dropped,
                    "errors": [str(rejection) for rejection in outcome.rejections[:100]],
                }
            }
        )


def _parse(raw: bytes) -> object:
    if not raw.strip():
        raise ValidationError("body", "is empty")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValidationError("body", f"is not valid JSON ({exc})") from None
