"""The security headers of every page and admin reply, added in one middleware.

Every reply the router sends (the pages, ``/login``, the admin API, the destinations page,
errors included) carries a strict Content-Security-Policy (only this server's own scripts,
styles and images; no inline script, no plugins, no framing), ``X-Frame-Options: DENY``,
``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: same-origin``, and
``Cache-Control: no-store`` unless the reply chose its own caching (the browser settings
and static files do). The tracking routes are answered before the router and skip this:
their replies are read by scripts of other sites, never rendered.
"""

from __future__ import annotations

from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)

SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

_ALWAYS: Final = [
    (name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()
]
_CACHE_CONTROL: Final = b"cache-control"
_NO_STORE: Final = (_CACHE_CONTROL, b"no-store")


class SecurityHeaders:
    """Adds ``SECURITY_HEADERS`` (and ``Cache-Control: no-store`` by default) to every reply."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(header for header in _ALWAYS if header[0] not in present)
                if _CACHE_CONTROL not in present:
                    headers.append(_NO_STORE)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
