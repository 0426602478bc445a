"""Cookie values as the browser source writes and reads them, and Set-Cookie headers for ids.

The browser source (js-cookie 3) writes a string id *raw*: percent-encoded like
``encodeURIComponent`` and then with ``# $ & + / : < = > ? @ [ ] ^ ` { | }`` un-escaped again.
Analytics.js Classic wrote ``JSON.stringify`` then URL-encoded (``%22<id>%22``); that form is still
read. Reading strips one pair of surrounding quotes, percent-decodes (``unquote``, never
``unquote_plus``: a ``+`` in a cookie is a plus), then tries JSON with a raw fallback.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Final, Literal
from urllib.parse import quote, unquote

from audience.errors import ValidationError
from audience.jsontypes import JSON

ONE_YEAR: Final = timedelta(days=365)
"""How long the browser source keeps its identity cookies."""

_SAFE: Final = "-_.!~*'()" + "#$&+/:<=>?@[]^`{|}"
"""What ``encodeURIComponent`` leaves alone plus what js-cookie un-escapes after it."""

SameSite = Literal["Lax", "Strict", "None"]


def encode_cookie_value(value: JSON) -> str:
    """The cookie text for ``value``: strings raw (js-cookie encoding), anything else as JSON."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return quote(text, safe=_SAFE)


def decode_cookie_value(text: str) -> JSON:
    """Read a cookie value in any form the browser sources wrote it; ``None`` when empty.

    ``abc`` and ``%22abc%22`` and ``"abc"`` all read as ``abc``; ``12345`` reads as the
    number 12345 (callers that want an id coerce it to a string).
    """
    if text.startswith('"') and len(text) >= 2 and text.endswith('"'):
        text = text[1:-1]
    decoded = unquote(text, errors="replace")
    if not decoded:
        return None
    try:
        parsed: JSON = json.loads(decoded)
    except ValueError:
        # A Classic value cut short (``%22<id>`` without the closing ``%22``) is still the id.
        return decoded.strip('"') or None
    return parsed


def render_set_cookie(
    name: str,
    value: JSON,
    *,
    domain: str | None = None,
    max_age: timedelta = ONE_YEAR,
    now: datetime | None = None,
    path: str = "/",
    same_site: SameSite = "Lax",
    secure: bool = False,
) -> str:
    """A ``Set-Cookie`` header value for an identity cookie, with the browser source's attributes.

    ``Path=/``, one year, ``SameSite=Lax``, no ``Secure`` and no ``HttpOnly`` by default (the
    browser source must be able to read the cookie). ``domain`` is the registrable domain the
    cookie is shared over (``example.com`` for ``www.example.com``); ``None`` makes it host-only.
    ``now`` adds an ``Expires`` attribute for clients that ignore ``Max-Age``. A ``value`` of
    ``None`` renders a cookie that deletes ``name``.
    """
    if not name or any(c in name for c in " ;,=\t\r\n"):
        raise ValidationError("name", f"is not a cookie name: {name!r}")
    if domain is not None and any(c in domain for c in " ;,\t\r\n"):
        raise ValidationError("domain", f"is not a cookie domain: {domain!r}")
    seconds = 0 if value is None else int(max_age.total_seconds())
    parts = [f"{name}={'' if value is None else encode_cookie_value(value)}"]
    if domain:
        parts.append(f"Domain={domain}")
    parts.append(f"Path={path}")
    if now is not None:
        expires = (
            (now + timedelta(seconds=seconds)) if seconds else datetime(1970, 1, 1, tzinfo=UTC)
        )
        parts.append("Expires=" + format_datetime(expires.astimezone(UTC), usegmt=True))
    parts.append(f"Max-Age={seconds}")
    parts.append(f"SameSite={same_site}")
    if secure or same_site == "None":
        parts.append("Secure")
    return "; ".join(parts)
