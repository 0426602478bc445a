"""The one template environment of the operator's pages, and ``render``.

Every page (the login form, the collector's pages, the destinations page) is a template in
``templates/`` extending ``base.html``, rendered here with autoescaping on: identifiers, traits
and event names are user content. The security headers come from the application's
:class:`~audience.http.security_headers.SecurityHeaders` middleware, not from each page.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

import jinja2
from starlette.responses import HTMLResponse

ENVIRONMENT: Final = jinja2.Environment(
    loader=jinja2.PackageLoader("audience.pages", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def when(timestamp: str | None) -> str:
    """``2026-11-29T10:02:00.000Z`` as ``2026-11-29 10:02:00`` for people to read (UTC)."""
    if not timestamp:
        return ""
    return timestamp.replace("T", " ").split(".")[0].removesuffix("Z")


def shown(value: object) -> str:
    """A trait value as text: strings as they are, anything else as JSON (escaped on output)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


ENVIRONMENT.filters["when"] = when
ENVIRONMENT.filters["shown"] = shown


def render(
    template: str, status: int = 200, headers: Mapping[str, str] | None = None, **context: Any
) -> HTMLResponse:
    """A page from ``templates/``."""
    html = ENVIRONMENT.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers=headers)
