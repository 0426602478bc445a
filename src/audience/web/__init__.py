"""One identity in browser and server: web middleware that reads and writes the browser
source's ``ajs_*`` cookies so a web app's server-side events land on the visitor the browser
source tracks.

Needs only the SDK, the standard library and the bundled Public Suffix List (no server extras).
"""

from __future__ import annotations

from audience.web.asgi import IdentityMiddleware
from audience.web.cookies import REGISTRABLE_DOMAIN, CookieSettings, read_identity_cookies
from audience.web.domains import registrable_domain
from audience.web.visitor import Visitor
from audience.web.visitors import MiddlewareOptions, Visitors
from audience.web.wsgi import ENVIRON_KEY, IdentityWSGIMiddleware

__all__ = [
    "ENVIRON_KEY",
    "REGISTRABLE_DOMAIN",
    "CookieSettings",
    "IdentityMiddleware",
    "IdentityWSGIMiddleware",
    "MiddlewareOptions",
    "Visitor",
    "Visitors",
    "read_identity_cookies",
    "registrable_domain",
]
