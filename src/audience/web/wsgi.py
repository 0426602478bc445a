"""``IdentityWSGIMiddleware``: the WSGI middleware (Flask, Django, any WSGI app) that gives each
request the visitor's ``Analytics``-compatible client at ``environ["audience.analytics"]`` and
puts the visitor's identity cookies on every response.

``app.wsgi_app = IdentityWSGIMiddleware(app.wsgi_app, write_key=..., host=...)`` (Flask) or
``application = IdentityWSGIMiddleware(get_wsgi_application(), ...)`` (Django); the cookie
attributes are keyword arguments too (``domain``, ``max_age``, ``path``, ``same_site``,
``secure``). The ``Set-Cookie`` headers join the response's own in ``start_response``; identity
changes made while the body is produced after that are not sent (they are logged).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any, Unpack

from audience.web.visitor import Visitor
from audience.web.visitors import MiddlewareOptions, Visitors

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

ENVIRON_KEY = "audience.analytics"
"""Where the visitor's client is in the WSGI environ."""


class IdentityWSGIMiddleware:
    """Wraps a WSGI app; see the module docstring. Keyword arguments: ``MiddlewareOptions``."""

    def __init__(self, app: WSGIApp, **options: Unpack[MiddlewareOptions]) -> None:
        self.app = app
        self.visitors = Visitors(**options)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        cookie = environ.get("HTTP_COOKIE")
        host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME") or ""
        forwarded = environ.get("HTTP_X_FORWARDED_HOST")
        visitor = self.visitors.for_request([cookie] if cookie else [], host, forwarded)
        environ[ENVIRON_KEY] = visitor

        def start_with_cookies(
            status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None
        ) -> Callable[[bytes], object]:
            headers = [*headers, *(("Set-Cookie", v) for v in visitor.set_cookie_headers())]
            if exc_info is None:
                return start_response(status, headers)
            return start_response(status, headers, exc_info)

        return _Body(self.app(environ, start_with_cookies), visitor)

    def close(self, timeout: float | None = None) -> None:
        """Deliver what is pending and stop the client made from ``write_key``."""
        self.visitors.close(timeout)


class _Body:
    """The app's response body, passed through; closing it closes the app's and checks for
    identity changes made after the headers."""

    def __init__(self, body: Iterable[bytes], visitor: Visitor) -> None:
        self._body = body
        self._visitor = visitor

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if callable(close):
                close()
        finally:
            self._visitor.finish()
