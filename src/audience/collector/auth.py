"""Who may do what: write keys find a request's source; the admin token guards the admin API.

Write keys arrive as HTTP Basic (the key as user name, with or without the colon),
``Authorization: Bearer <key>``, ``writeKey`` in the body, or ``?writeKey=``, in that order
of precedence. The admin token arrives as ``Authorization: Bearer <token>`` or, for web
pages, as the session cookie set by ``POST /login``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from typing import Final
from urllib.parse import parse_qs, quote

from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from audience.collector.replies import error_reply
from audience.errors import AuthenticationError
from audience.storage.base import Source, SourceRegistry

Endpoint = Callable[[Request], Awaitable[Response]]

SESSION_COOKIE: Final = "audience_admin"


def write_key_from_authorization(header: str | None) -> str | None:
    """The write key carried by a Basic or Bearer ``Authorization`` header, if any."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value or None
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise AuthenticationError("the Basic credentials are not base64 text") from None
    user = decoded.partition(":")[0]
    return user or None


def write_key_from_body(body: object) -> str | None:
    """The ``writeKey`` field of a JSON body, if it is a non-empty string."""
    if isinstance(body, dict):
        key = body.get("writeKey")
        if isinstance(key, str) and key:
            return key
    return None


class SourceResolver:
    """Finds the source of a write key, remembering the ones it has seen.

    Sources are never renamed or deleted while the collector runs, so a key once found
    stays valid; unknown keys are looked up each time, so a source created by
    ``audience sources create`` is accepted at once.
    """

    def __init__(self, registry: SourceRegistry) -> None:
        self._registry = registry
        self._known: dict[str, Source] = {}

    def resolve(self, write_key: str | None) -> Source:
        """The source of ``write_key``; raises ``AuthenticationError`` when there is none."""
        if not write_key:
            raise AuthenticationError("no write key: use Basic auth, Bearer or writeKey")
        source = self._known.get(write_key)
        if source is not None:
            return source
        if len(write_key) > 200 or "\x00" in write_key:  # no store holds such a key
            raise AuthenticationError("unknown write key")
        source = self._registry.source_by_key(write_key)
        if source is None:
            raise AuthenticationError("unknown write key")
        self._known[write_key] = source
        return source


class AdminGuard:
    """Checks the admin token on API requests and the login cookie on pages.

    Use ``guard.protect(endpoint)`` on JSON endpoints (401 without the token) and
    ``guard.protect_page(endpoint)`` on pages (redirect to ``/login``). ``routes()`` adds
    ``GET/POST /login`` and ``POST /logout``.
    """

    def __init__(self, token: str) -> None:
        self._token = token.encode()
        self._session = hmac.new(self._token, b"audience admin session", hashlib.sha256).hexdigest()

    def is_authorized(self, connection: HTTPConnection) -> bool:
        """Whether the request carries the admin token (Bearer) or a valid login cookie."""
        header = connection.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), self._token):
            return True
        cookie = connection.cookies.get(SESSION_COOKIE, "")
        return bool(cookie) and hmac.compare_digest(cookie.encode(), self._session.encode())

    def require(self, connection: HTTPConnection) -> None:
        """Raise ``AuthenticationError`` unless the request is the admin's."""
        if not self.is_authorized(connection):
            raise AuthenticationError("the admin token is missing or wrong")

    def protect(self, endpoint: Endpoint) -> Endpoint:
        """Wrap a JSON endpoint: requests without the admin token get 401."""

        @functools.wraps(endpoint)
        async def guarded(request: Request) -> Response:
            if not self.is_authorized(request):
                return unauthorized()
            return await endpoint(request)

        return guarded

    def protect_page(self, endpoint: Endpoint) -> Endpoint:
        """Wrap a page: visitors who are not logged in are sent to ``/login``."""

        @functools.wraps(endpoint)
        async def guarded(request: Request) -> Response:
            if not self.is_authorized(request):
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
            return await endpoint(request)

        return guarded

    def routes(self) -> list[Route]:
        """``GET /login`` (a form), ``POST /login`` (sets the cookie), ``POST /logout``."""
        return [
            Route("/login", self._login_form, methods=["GET"]),
            Route("/login", self._login, methods=["POST"]),
            Route("/logout", self._logout, methods=["POST"]),
        ]

    async def _login_form(self, request: Request, failed: bool = False) -> Response:
        target = _safe_next(request.query_params.get("next"))
        message = '<p role="alert">That token is not right.</p>' if failed else ""
        page = LOGIN_PAGE.format(next=_escape_html(target), message=message)
        return HTMLResponse(page, status_code=401 if failed else 200)

    async def _login(self, request: Request) -> Response:
        form = await _small_form(request)
        token = form.get("token", "")
        target = _safe_next(form.get("next", "/"))
        if not hmac.compare_digest(token.strip().encode(), self._token):
            return await self._login_form(request, failed=True)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            self._session,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            max_age=30 * 24 * 3600,
        )
        return response

    async def _logout(self, request: Request) -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response


def unauthorized() -> Response:
    """The 401 of the admin API."""
    return error_reply(
        401,
        "unauthorized",
        "send the admin token as Authorization: Bearer <token>",
        headers={"WWW-Authenticate": 'Bearer realm="audience admin"'},
    )


async def _small_form(request: Request) -> dict[str, str]:
    """A urlencoded login form, read only up to 4 KiB."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > 4096:
            return {}
    try:
        fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=4)
    except ValueError:
        return {}
    return {name: values[0] for name, values in fields.items() if values}


def _safe_next(target: str | None) -> str:
    """Only local paths: an open redirect would let another site borrow the login."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _escape_html(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


LOGIN_PAGE: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>audience: log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>audience</h1>{message}
<form method="post" action="/login">
<label for="token">Admin token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required>
<input type="hidden" name="next" value="{next}">
<button type="submit">Log in</button>
</form></main></body></html>
"""
