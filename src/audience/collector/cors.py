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
        allow_origin = origin or b"*"
        if scope["method"] == "OPTIONS":
            await self._preflight(scope, allow_origin, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"access-control-allow-origin", allow_origin))
                headers.append((b"vary", b"Origin"))
                if origin:
                    headers.append((b"access-control-allow-credentials", b"true"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_cors)

    @staticmethod
    async def _preflight(scope: Scope, allow_origin: bytes, send: Send) -> None:
        requested = _header(scope, b"access-control-request-headers")
        headers = [
            (b"access-control-allow-origin", allow_origin),
            (b"access-control-allow-methods", ALLOWED_METHODS.encode()),
            (b"access-control-allow-headers", requested or ALLOWED_HEADERS.encode()),
            (b"access-control-max-age", MAX_AGE.encode()),
            (b"vary", b"Origin, Access-Control-Request-Headers"),
            (b"content-length", b"0"),
        ]
        if allow_origin != b"*":
            headers.append((b"access-control-allow-credentials", b"true"))
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None
