"""The tracking API routes: ``/v1/{identify,track,page,screen,group,alias,batch}`` and short forms.

Each handler reads the body (capped, inflated), parses it as JSON whatever the
Content-Type, finds the source from the write key, and hands the rest to the
``Ingestor``. It answers 200 only once the stored events are committed.

Status codes: 200 accepted (in the default permissive mode bad events, those over the
event size limit included, are dropped and listed in ``meta``); 400 unreadable body, or any
bad event with ``X-Strict-Mode: 1``; 401 missing or unknown write key; 413 only for a body
over the request limit; 503 when the store cannot commit (retry later).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final, Literal
from urllib.parse import parse_qs

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import Receive, Scope

from audience.collector.ingest import Ingestor, Prepared, Submission
from audience.collector.write_keys import (
    SourceResolver,
    write_key_from_authorization,
    write_key_from_body,
)
from audience.errors import (
    AuthenticationError,
    PayloadTooLargeError,
    StorageError,
    ValidationError,
)
from audience.http.body import BodyReader
from audience.http.proxies import TrustedProxies
from audience.http.replies import error_reply
from audience.storage.base import Source
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

INLINE_BODY_BYTES: Final = 512 * 1024
"""Bodies up to this size are parsed and judged on the event loop; larger ones on a worker
thread, so that one batch of several megabytes does not hold up every other request."""

LARGE_BODIES_AT_ONCE: Final = 2
"""Bodies over ``INLINE_BODY_BYTES`` parsed and judged at the same time by one process.

Parsed, the largest body holds about 200 MB: without a bound, a few dozen of them sent at once
by anyone with a public write key would exhaust the machine's memory; waiting, each holds only
its bytes. The commit that follows is outside the bound, so large batches still share group
commits.
"""

ACCEPTED: Final = orjson.dumps({})


class TrackingApi:
    """The ``/v1`` tracking routes, answered straight from ASGI.

    These routes carry nearly all of the traffic, so they skip the router and the request
    objects; ``TrackingFront`` (:mod:`audience.collector.tracking_front`) puts them in front
    of the rest of the application.
    """

    def __init__(
        self,
        ingestor: Ingestor,
        sources: SourceResolver,
        *,
        max_request_bytes: int,
        proxies: TrustedProxies | None = None,
    ) -> None:
        self._ingestor = ingestor
        self._sources = sources
        self._max_request_bytes = max_request_bytes
        self._proxies = proxies or TrustedProxies()
        self._large_bodies = asyncio.Semaphore(LARGE_BODIES_AT_ONCE)

    def kind_of(self, path: str) -> MessageType | Literal["batch", "telemetry"] | None:
        """What a path receives: a message type, a batch, telemetry, or ``None`` (not ours)."""
        if not path.startswith("/v1/"):
            return None
        name = path[4:]
        if name in SINGLE_ROUTES:
            return SINGLE_ROUTES[name]
        if name in BATCH_ROUTES:
            return "batch"
        if name == "m":
            return "telemetry"
        return None

    async def answer(
        self,
        kind: MessageType | Literal["batch", "telemetry"],
        scope: Scope,
        receive: Receive,
        headers: dict[str, str],
    ) -> bytes | Response:
        """The answer to one POST to a tracking route: the body of a 200, or another reply.

        ``headers`` holds the request headers of ``TRACKING_HEADERS`` that were sent.
        """
        if kind == "telemetry":
            with contextlib.suppress(PayloadTooLargeError, ValidationError):
                await _read_body(receive, headers, TELEMETRY_LIMIT)
            return ACCEPTED
        return await self._accept(scope, receive, headers, None if kind == "batch" else kind)

    async def _accept(
        self,
        scope: Scope,
        receive: Receive,
        headers: dict[str, str],
        kind: MessageType | None,
    ) -> bytes | Response:
        strict = headers.get("x-strict-mode", "").strip().lower() in ("1", "true")
        try:
            header_key = write_key_from_authorization(headers.get("authorization"))
            source = self._sources.resolve(header_key) if header_key else None
            raw = await _read_body(receive, headers, self._max_request_bytes)
            if len(raw) > INLINE_BODY_BYTES:
                async with self._large_bodies:
                    prepared, source = await self._prepare(scope, headers, raw, kind, source)
            else:
                prepared, source = self._prepare_inline(scope, headers, raw, kind, source)
            if strict and prepared.rejections:
                self._ingestor.refuse(prepared)
                return error_reply(
                    400,
                    "invalid_events",
                    f"{prepared.dropped} message(s) are not valid; nothing was stored",
                    [str(rejection) for rejection in prepared.rejections],
                )
            outcome = await self._ingestor.commit_async(prepared)
        except AuthenticationError as exc:
            return error_reply(401, "unauthorized", str(exc), [f"writeKey: {exc}"])
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
            return ACCEPTED
        return orjson.dumps(
            {
                "meta": {
                    "stored": outcome.stored,
                    "duplicates": outcome.duplicates,
                    "dropped": outcome.dropped,
                    "errors": [str(rejection) for rejection in outcome.rejections[:100]],
                }
            }
        )

    async def _prepare(
        self,
        scope: Scope,
        headers: dict[str, str],
        raw: bytes,
        kind: MessageType | None,
        source: Source | None,
    ) -> tuple[Prepared, Source]:
        """``_prepare_inline`` on a worker thread: a large body would hold up the event loop."""
        return await run_in_threadpool(self._prepare_inline, scope, headers, raw, kind, source)

    def _prepare_inline(
        self,
        scope: Scope,
        headers: dict[str, str],
        raw: bytes,
        kind: MessageType | None,
        source: Source | None,
    ) -> tuple[Prepared, Source]:
        """Parse and judge a body, finding its source from the body when no header named it."""
        body = _parse(raw)
        if source is None:
            source = self._sources.resolve(write_key_from_body(body) or _query_write_key(scope))
        client = scope.get("client")
        client_ip = self._proxies.client_address(
            client[0] if client else None, headers.get("x-forwarded-for")
        )
        return self._ingestor.prepare(Submission(source.name, body, kind, client_ip)), source


TRACKING_HEADERS: Final = frozenset(
    [
        b"authorization",
        b"content-length",
        b"content-encoding",
        b"x-strict-mode",
        b"x-forwarded-for",
    ]
)
"""The request headers the tracking routes read (ASGI names are lowercase)."""


async def _read_body(receive: Receive, headers: dict[str, str], limit: int) -> bytes:
    """The body, as ``read_body`` reads it; a client gone before the last chunk makes it
    incomplete.

    A stalled body cut by the server's body timeout ends in ``http.disconnect``: what arrived
    may happen to parse as JSON, but the client was told its request failed, so nothing of it
    may be stored.
    """
    reader = BodyReader(
        limit=limit,
        content_length=headers.get("content-length"),
        content_encoding=headers.get("content-encoding"),
    )
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ValidationError("body", "ended before it was complete: the client went away")
        reader.feed(message.get("body", b""))
        if not message.get("more_body", False):
            return reader.finish()


def _query_write_key(scope: Scope) -> str | None:
    query = scope.get("query_string", b"")
    if not query:
        return None
    values = parse_qs(query.decode("latin-1")).get("writeKey")
    return values[0] if values else None


def _parse(raw: bytes) -> object:
    if not raw.strip():
        raise ValidationError("body", "is empty")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValidationError("body", f"is not valid JSON ({exc})") from None
