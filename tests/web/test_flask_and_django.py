"""The Flask and Django examples under ``IdentityWSGIMiddleware``, served by wsgiref and spoken
to by httpx with a cookie jar: the journey's server-side half keeps the browser's ids."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from audience import Analytics
from audience.sdk.testing import RecordingTransport

from .serving import load_example, serve_wsgi

PAGES = {"audience_url": "http://127.0.0.1:9", "browser_write_key": "wk_browser"}


def flask_app(analytics: Analytics) -> Any:
    return load_example("shop/flask_shop").create_app(analytics=analytics, **PAGES)


def django_app(analytics: Analytics) -> Any:
    return load_example("shop/django_shop").create_application(analytics=analytics, **PAGES)


@pytest.mark.parametrize("make_app", [flask_app, django_app], ids=["flask", "django"])
def test_the_server_side_journey_keeps_the_browsers_ids(
    make_app: Callable[[Analytics], Any],
) -> None:
    transport = RecordingTransport()
    with (
        Analytics("wk_web", storage="memory", transport=transport) as analytics,
        serve_wsgi(make_app(analytics)) as url,
        httpx.Client(base_url=url) as browser,
    ):
        browser.cookies.set("ajs_anonymous_id", "%22browser-anon%22", domain="127.0.0.1")
        browser.post("/cart", data={"sku": "tee"}).raise_for_status()
        login = browser.post("/login", data={"user": "user-1"})
        browser.post("/orders").raise_for_status()
        logout = browser.get("/logout")
        browser.post("/cart", data={"sku": "mug"}).raise_for_status()
        assert analytics.flush(timeout=10)

    ids = [(m["type"], m.get("event"), m["anonymousId"], m["userId"]) for m in transport.messages]
    fresh = ids[-1][2]
    assert ids == [
        ("track", "Cart Updated", "browser-anon", None),
        ("identify", None, "browser-anon", "user-1"),
        ("track", "Order Completed", "browser-anon", "user-1"),
        ("track", "Cart Updated", fresh, None),
    ]
    assert fresh != "browser-anon"
    assert login.status_code == 303
    assert "ajs_user_id=user-1; Path=/; Max-Age=31536000; SameSite=Lax" in login.headers.get_list(
        "set-cookie"
    )
    assert sorted(logout.headers.get_list("set-cookie")) == [
        "ajs_anonymous_id=; Path=/; Max-Age=0; SameSite=Lax",
        "ajs_user_id=; Path=/; Max-Age=0; SameSite=Lax",
    ]
    assert browser.cookies["ajs_anonymous_id"] == fresh
