"""CORS for the tracking API: every reply and every preflight, for any origin.

Browsers post events cross-origin. The Customer.io browser source sends CORS-simple
requests, but a reply without ``Access-Control-Allow-Origin`` is an error to it and it
sends the event again; Segment's client sends Basic auth, which needs a preflight.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALLOWED_METHODS: Final = "GET, POST, OPTIONS"
ALLOWED_HEADERS: Final = (
    "Content-Type, Content-Encoding, Authorization, X-Retry-Count, X-Strict-Mode"
)
MAX_AGE: Final = "600"

_ALLOWED_METHODS: Final = ALLOWED_METHODS.encode()
_ALLOWED_HEADERS: Final = ALLOWED_HEADERS.encode()
_MAX_AGE: Final = MAX_AGE.encode()


class CorsMiddleware:
    """Adds CORS headers to replies under ``prefixes`` and answers their preflights."""

    def __init__(self, app: ASGIApp, prefixes: Sequence[str] = ("/v1/",)) -> None:
        self.app = app
        self.prefixes = tuple(prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefixes):
            await self.app(scope, receive, send)
            return
        origin = _header(scope, b"origin")
        if scope["method"] == "OPTIONS":
            headers = preflight_headers(origin, _header(scope, b"access-control-request-headers"))
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        cors = reply_headers(origin)

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *cors]
            await send(message)

        await self.app(scope, receive, send_with_cors)


def reply_headers(origin: bytes | None) -> list[tuple[bytes, bytes]]:
    """The CORS headers added to a reply to a request from ``origin`` (``None``: not sent)."""
    headers = [(b"access-control-allow-origin", origin or b"*"), (b"vary", b"Origin")]
    if origin:
        headers.append((b"access-control-allow-credentials", b"true"))
    return headers


def preflight_headers(origin: bytes | None, requested: bytes | None) -> list[tuple[bytes, bytes]]:
    """The headers of the 204 answering a preflight from ``origin`` that asks for the
    ``requested`` request headers (``None``: not sent)."""
    allow_origin = origin or b"*"
    headers = [
        (b"access-control-allow-origin", allow_origin),
        (b"access-control-allow-methods", _ALLOWED_METHODS),
        (b"access-control-allow-headers", requested or _ALLOWED_HEADERS),
        (b"access-control-max-age", _MAX_AGE),
        (b"vary", b"Origin, Access-Control-Request-Headers"),
        (b"content-length", b"0"),
    ]
    if allow_origin != b"*":
        headers.append((b"access-control-allow-credentials", b"true"))
    return headers


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None
