"""The admin guard: the admin token guards the admin API, the login session the pages.

The admin token arrives as ``Authorization: Bearer <token>`` or, for web pages, once at
``POST /login``, which starts a server-side session (:mod:`audience.http.admin_sessions`)
whose id the session cookie carries. The login form itself is drawn by a ``LoginPage`` the
application is built with, so this shell knows no templates.

Around the admin surface: wrong tokens are throttled per client address
(:mod:`audience.http.login_throttle`), state-changing requests that a cookie
authenticates are refused when they come from another site (:mod:`audience.http.csrf`),
and the cookie is ``Secure`` whenever the visitor uses https (the public URL, or a trusted
proxy's ``X-Forwarded-Proto``). Bearer requests are not cookie-authenticated and skip the
cross-site check.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Awaitable, Callable, Mapping
from typing import Final, Protocol
from urllib.parse import parse_qs, quote, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from audience.http.admin_sessions import AdminSessions
from audience.http.admin_token import AdminTokenSource
from audience.http.csrf import cross_site_refusal
from audience.http.login_throttle import LoginThrottle
from audience.http.proxies import TrustedProxies, VisitorView, origin_of
from audience.http.replies import error_reply

Endpoint = Callable[[Request], Awaitable[Response]]

SESSION_COOKIE: Final = "audience_admin"


class LoginPage(Protocol):
    """Draws the login form: ``target`` is where a successful login goes, ``message`` why the
    form is shown again (empty the first time)."""

    def __call__(
        self,
        target: str,
        message: str = "",
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """The form as a reply with ``status`` and the extra ``headers``."""
        ...


class AdminGuard:
    """Checks the admin token on API requests and the login session on pages.

    Use ``guard.protect(endpoint)`` on JSON endpoints (401 without the token) and
    ``guard.protect_page(endpoint)`` on pages (redirect to ``/login``). ``routes()`` adds
    ``GET/POST /login`` and ``POST /logout``. Either way a wrong Bearer token counts against
    the client address's throttle (429 with ``Retry-After`` while it is locked), and a
    state-changing request authenticated by the cookie is refused with 403 when it comes
    from another site.
    """

    def __init__(
        self,
        token: AdminTokenSource,
        sessions: AdminSessions,
        throttle: LoginThrottle,
        proxies: TrustedProxies,
        login_page: LoginPage,
        public_url: str | None = None,
    ) -> None:
        self._login_page = login_page
        self._token = token
        self._sessions = sessions
        self._throttle = throttle
        self._proxies = proxies
        self._public_origin = _origin_of_url(public_url)

    def protect(self, endpoint: Endpoint) -> Endpoint:
        """Wrap a JSON endpoint: requests that are not the admin's get 401 (or 403/429)."""

        @functools.wraps(endpoint)
        async def guarded(request: Request) -> Response:
            allowed, refusal = await self._verdict(request)
            if not allowed:
                return refusal or unauthorized()
            return await endpoint(request)

        return guarded

    def protect_page(self, endpoint: Endpoint) -> Endpoint:
        """Wrap a page: visitors who are not logged in are sent to ``/login``."""

        @functools.wraps(endpoint)
        async def guarded(request: Request) -> Response:
            allowed, refusal = await self._verdict(request)
            if not allowed:
                if refusal is not None:
                    return refusal
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
            return await endpoint(request)

        return guarded

    def routes(self) -> list[Route]:
        """``GET /login`` (a form), ``POST /login`` (starts a session), ``POST /logout``."""
        return [
            Route("/login", self._login_form, methods=["GET"]),
            Route("/login", self._login, methods=["POST"]),
            Route("/logout", self._logout, methods=["POST"]),
        ]

    # -- deciding ------------------------------------------------------------------------

    async def _verdict(self, request: Request) -> tuple[bool, Response | None]:
        """Whether the request is the admin's, and the reply when it must be a particular one.

        A Bearer token is the only credential looked at when one is sent; otherwise the
        session cookie, once the request has passed the cross-site check (so a refused
        request does not even count as the session's use).
        """
        bearer = _bearer(request.headers.get("authorization"))
        if bearer is not None:
            return await self._check_bearer(request, bearer)
        if not request.cookies.get(SESSION_COOKIE):
            return False, None
        refusal = self._cross_site(request, self._proxies.view_of(request))
        if refusal is not None:
            return False, refusal
        return await self._has_session(request), None

    async def _has_session(self, request: Request) -> bool:
        session_id = request.cookies.get(SESSION_COOKIE, "")
        if not session_id:
            return False
        return await run_in_threadpool(self._sessions.check, session_id)

    async def _check_bearer(self, request: Request, bearer: str) -> tuple[bool, Response | None]:
        address = self._proxies.view_of(request).address
        wait = self._throttle.wait_seconds(address)
        if wait:
            return False, too_many_attempts(wait)
        if await self._is_token(bearer):
            self._throttle.succeeded(address)
            return True, None
        self._throttle.failed(address)
        return False, None

    async def _is_token(self, candidate: str) -> bool:
        token = await run_in_threadpool(self._token.current)
        return hmac.compare_digest(candidate.encode(), token.encode())

    def _cross_site(self, request: Request, view: VisitorView) -> Response | None:
        own = {origin for origin in (self._public_origin, view.origin) if origin}
        reason = cross_site_refusal(request.method, request.headers, own)
        if reason is None:
            return None
        return error_reply(403, "cross_site_request", f"refused: {reason}")

    def _secure(self, view: VisitorView) -> bool:
        """Whether the cookie must be ``Secure``: the visitor reaches us over https."""
        public_https = (self._public_origin or "").startswith("https://")
        return public_https or view.scheme == "https"

    # -- the login routes ------------------------------------------------------------------

    async def _login_form(self, request: Request) -> Response:
        target = _safe_next(request.query_params.get("next"))
        if await self._has_session(request):
            return RedirectResponse(target, status_code=303)
        return self._login_page(target)

    async def _login(self, request: Request) -> Response:
        view = self._proxies.view_of(request)
        refusal = self._cross_site(request, view)
        if refusal is not None:
            return refusal
        form = await _small_form(request)
        target = _safe_next(form.get("next", "/"))
        wait = self._throttle.wait_seconds(view.address)
        if wait:
            return self._login_page(
                target,
                _locked_message(wait),
                status=429,
                headers={"Retry-After": str(wait)},
            )
        token = form.get("token", "").strip()
        if not token:
            return self._login_page(target, "Enter the admin token.", status=401)
        if not await self._is_token(token):
            locked = self._throttle.failed(view.address)
            message = "That token is not right."
            if locked:
                message += " " + _locked_message(locked)
            return self._login_page(target, message, status=401)
        self._throttle.succeeded(view.address)
        previous = request.cookies.get(SESSION_COOKIE, "")
        if previous:
            await run_in_threadpool(self._sessions.end, previous)
        session_id = await run_in_threadpool(self._sessions.start)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            session_id,
            max_age=int(self._sessions.policy.lifetime_seconds),
            path="/",
            secure=self._secure(view),
            httponly=True,
            samesite="strict",
        )
        return response

    async def _logout(self, request: Request) -> Response:
        view = self._proxies.view_of(request)
        refusal = self._cross_site(request, view)
        if refusal is not None:
            return refusal
        session_id = request.cookies.get(SESSION_COOKIE, "")
        if session_id:
            await run_in_threadpool(self._sessions.end, session_id)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(
            SESSION_COOKIE, path="/", secure=self._secure(view), httponly=True, samesite="strict"
        )
        return response


def unauthorized() -> Response:
    """The 401 of the admin API."""
    return error_reply(
        401,
        "unauthorized",
        "send the admin token as Authorization: Bearer <token>",
        headers={"WWW-Authenticate": 'Bearer realm="audience admin"'},
    )


def too_many_attempts(wait: int) -> Response:
    """The 429 of an address locked by the login throttle."""
    return error_reply(
        429,
        "too_many_attempts",
        f"too many wrong admin tokens from this address: try again in {wait} s",
        headers={"Retry-After": str(wait)},
    )


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def _origin_of_url(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    return origin_of(parts.scheme, parts.netloc) if parts.scheme and parts.netloc else None


def _locked_message(wait: int) -> str:
    return f"Too many wrong tokens from your address: try again in {wait} s."


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
