"""``Visitor``: the ``Analytics``-compatible client of one web request, whose identity is the
visitor's ``ajs_*`` cookies.

Calls follow the SDK's identity rules (``Analytics.for_store`` over a ``RequestCookieStore``)
and go out through the one delivery pipeline the middleware shares; what they change in the
identity becomes the response's ``Set-Cookie`` headers. Traits are kept only for the request
(the browser source keeps them in its localStorage, never in a cookie), so nothing about a
visitor is stored on the server.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping

from audience.sdk.calls import Call, CallMethods, IdentitySource
from audience.sdk.client import Analytics
from audience.sdk.cookies import render_set_cookie
from audience.sdk.identity import ANONYMOUS_ID_KEY
from audience.sdk.stores import MemoryStore, RequestCookieStore
from audience.web.cookies import IDENTITY_COOKIES, CookieSettings

log = logging.getLogger(__name__)


class Visitor(CallMethods):
    """page / screen / track / identify / group / alias / reset / user() for one request's
    visitor, like ``Analytics`` (``flush()`` waits for the shared pipeline).

    What a call changes in the identity goes back to the browser: ``identify`` sets
    ``ajs_user_id`` (and a new ``ajs_anonymous_id`` when a different user logs in), ``group``
    sets ``ajs_group_id``, ``reset`` deletes them.
    """

    def __init__(
        self,
        analytics: Analytics,
        cookies: Mapping[str, str],
        *,
        host: str,
        settings: CookieSettings,
        repeated: Collection[str] = (),
    ) -> None:
        self._analytics = analytics
        self._settings = settings
        self._domain = settings.domain_for(host)
        self._repeated = tuple(name for name in IDENTITY_COOKIES if name in repeated)
        self._cookies = RequestCookieStore(
            cookies,
            domain=self._domain,
            max_age=settings.max_age,
            secure=settings.secure,
            path=settings.path,
            same_site=settings.same_site,
        )
        self._tracker = analytics.for_store(self._cookies, MemoryStore())
        self._forgotten = False
        self._rendered_at: int | None = None

    # -- events --------------------------------------------------------------------------

    def _send(self, call: Call) -> None:
        self._tracker.send(call)

    def _identity_source(self) -> IdentitySource:
        return self._tracker

    # -- identity ------------------------------------------------------------------------

    def reset(self) -> None:
        """Log out: the response deletes the identity cookies (with the same attributes) and a
        new anonymous id is minted on the next read, as in the browser source."""
        self._tracker.reset()
        self._forgotten = True

    def set_anonymous_id(self, anonymous_id: str | None) -> None:
        """Use ``anonymous_id`` for this visitor from now on (``None`` deletes the cookie)."""
        self._tracker.set_anonymous_id(anonymous_id)
        if anonymous_id is None:
            self._forgotten = True

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything the shared pipeline accepted is delivered."""
        return self._analytics.flush(timeout)

    # -- the response --------------------------------------------------------------------

    def set_cookie_headers(self) -> list[str]:
        """The ``Set-Cookie`` values of the response: every identity cookie written or deleted
        by the view, every other one the request carried (refreshed to a full ``max_age``), and
        a new anonymous id on a first visit (unless the view logged the visitor out).

        An identity cookie the request carried twice while cookies go to a domain also gets a
        host-only deletion first, so the domain cookie is the only one left."""
        if not self._forgotten and self._cookies.get(ANONYMOUS_ID_KEY) is None:
            self._tracker.anonymous_id()
        self._rendered_at = self._cookies.version()
        headers = self._cookies.set_cookie_headers(refresh=IDENTITY_COOKIES)
        if self._domain is None or not self._repeated:
            return headers
        settings = self._settings
        host_only = [
            render_set_cookie(
                name,
                None,
                path=settings.path,
                same_site=settings.same_site,
                secure=settings.secure,
            )
            for name in self._repeated
        ]
        return host_only + headers

    def finish(self) -> None:
        """Note identity changes made after the headers were sent (a streaming body): the
        browser never receives them. Said once, however often it is called."""
        rendered_at, self._rendered_at = self._rendered_at, None
        if rendered_at is not None and self._cookies.version() != rendered_at:
            log.warning(
                "the visitor's identity changed after the response headers were sent; "
                "its cookies keep the identity of the headers"
            )
