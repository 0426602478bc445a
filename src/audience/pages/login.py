"""The login form of the admin guard, drawn as one of the operator's pages."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import Response

from audience.pages.rendering import render


def login_page(
    target: str, message: str = "", status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """``templates/login.html``: the token form, posting to ``/login`` and then to ``target``."""
    return render("login.html", status=status, headers=headers, next=target, message=message)
