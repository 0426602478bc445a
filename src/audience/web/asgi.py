"""``IdentityMiddleware``: the ASGI middleware (Starlette, FastAPI) that gives each request the
visitor's ``Analytics``-compatible client at ``scope["state"]["analytics"]``
(``request.state.analytics``) and puts the visitor's identity cookies on every response.

``app.add_middleware(IdentityMiddleware, write_key=..., host=...)``; the cookie attributes are
keyword arguments too (``domain``, ``max_age``, ``path``, ``same_site``, ``secure``). The
``Set-Cookie`` headers join the response's own when it starts (or a WebSocket's handshake answer
when it is accepted), so identity changes a streaming body makes after that are not sent (they
are logged). The client made from ``write_key`` is shut down, delivering what is pending, when the
app's lifespan ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Unpack

from audience.web.visitor import Visitor
from audience.web.visitors import MiddlewareOptions, Visitors

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _request_headers(scope: Scope) -> tuple[list[str], str, str | None]:
    """The ``Cookie`` values, the host and the ``X-Forwarded-Host`` of a connection."""
    cookies: list[str] = []
    host: str | None = None
    forwarded: str | None = None
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            cookies.append(value.decode("latin-1"))
        elif name == b"host":
            host = value.decode("latin-1")
        elif name == b"x-forwarded-host":
            forwarded = value.decode("latin-1")
    if host is None:
        server = scope.get("server")
        host = str(server[0]) if server else ""
    return cookies, host, forwarded


class IdentityMiddleware:
    """Wraps an ASGI app; see the module docstring. Keyword arguments: ``MiddlewareOptions``."""

    def __init__(self, app: ASGIApp, **options: Unpack[MiddlewareOptions]) -> None:
        self.app = app
        self.visitors = Visitors(**options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            await self._connection(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self.app(scope, receive, self._closing_on_shutdown(send))
        else:
            await self.app(scope, receive, send)

    async def _connection(self, scope: Scope, receive: Receive, send: Send) -> None:
        visitor = self.visitors.for_request(*_request_headers(scope))
        state = dict(scope.get("state") or {})
        state["analytics"] = visitor
        scope = {**scope, "state": state}

        async def send_with_cookies(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.accept"):
                message = _with_cookies(message, visitor)
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                visitor.finish()
            await send(message)

        try:
            await self.app(scope, receive, send_with_cookies)
        finally:
            visitor.finish()

    def _closing_on_shutdown(self, send: Send) -> Send:
        async def send_closing(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                await asyncio.to_thread(self.visitors.close)
            await send(message)

        return send_closing


def _with_cookies(message: Message, visitor: Visitor) -> Message:
    headers = list(message.get("headers", ()))
    headers += [(b"set-cookie", value.encode("latin-1")) for value in visitor.set_cookie_headers()]
    return {**message, "headers": headers}
