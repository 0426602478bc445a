"""Cross-site request refusal for what the admin cookie can authenticate.

A browser attaches the admin's session cookie to any request for this server, so a page of
another site could make the admin's browser log out, log in with the attacker's token, or
change something. Browsers say where a request comes from: ``Sec-Fetch-Site`` (every current
browser) and ``Origin`` (on every cross-origin request and every POST). A state-changing
request is refused when either says it comes from elsewhere. Requests without both headers
are not from a current browser's page (scripts, curl) and carry no ambient cookie risk;
requests with a Bearer token are not cookie-authenticated and are not checked at all.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Final

STATE_CHANGING_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})

_FOREIGN_FETCH_SITES: Final = frozenset({"cross-site", "same-site"})
"""``same-site`` is another origin of the same site (a sibling subdomain): still not us."""


def cross_site_refusal(
    method: str, headers: Mapping[str, str], own_origins: Collection[str]
) -> str | None:
    """Why a request must be refused as cross-site, or ``None`` when it may go on.

    The rule: a state-changing method (POST, PUT, PATCH, DELETE) is refused when
    ``Sec-Fetch-Site`` is ``cross-site`` or ``same-site``, or when ``Origin`` is present
    and is none of ``own_origins`` (``Origin: null``, sent by sandboxed and privacy-masked
    pages, is refused too). ``headers`` has lowercase names.
    """
    if method.upper() not in STATE_CHANGING_METHODS:
        return None
    fetch_site = headers.get("sec-fetch-site", "").strip().lower()
    if fetch_site in _FOREIGN_FETCH_SITES:
        return f"Sec-Fetch-Site is {fetch_site}: the request came from another site's page"
    origin = headers.get("origin")
    if origin is None:
        return None
    origin = origin.strip().lower().rstrip("/")
    if origin in own_origins:
        return None
    expected = " or ".join(sorted(own_origins)) or "unknown (no Host header)"
    return f"Origin {origin} is not this server's origin ({expected})"
