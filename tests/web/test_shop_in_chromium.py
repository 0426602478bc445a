"""The shop example end to end in Debian's Chromium: the real browser source on its pages, the
middleware in its views, ``audience serve`` receiving both, read back through the admin API."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from interop.browser import SourcePage
from interop.fixtures import INTEROP_SOURCES
from support import AdminApi, AudienceServer, LiveServer

from .serving import load_example, serve_wsgi

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

shop_module = load_example("shop/shop")
FRAMEWORKS = ["starlette", "fastapi", "flask", "django"]


@contextmanager
def serve_shop(framework: str, audience_url: str, storage_dir: Path) -> Iterator[str]:
    """The shop in ``framework`` on loopback: server-side events to the ``sdk`` source, the
    browser's to ``browser``. ASGI shops run in uvicorn, WSGI shops in wsgiref."""
    options: dict[str, Any] = {
        "audience_url": audience_url,
        "browser_write_key": INTEROP_SOURCES["browser"],
        "storage_dir": storage_dir,
    }
    if framework in ("starlette", "fastapi"):
        module = shop_module if framework == "starlette" else load_example("shop/fastapi_shop")
        app = module.create_app(write_key=INTEROP_SOURCES["sdk"], **options)
        with LiveServer(app) as server:
            yield server.url
        return
    identity = {"write_key": INTEROP_SOURCES["sdk"], "host": audience_url, **options}
    if framework == "flask":
        wsgi_app = load_example("shop/flask_shop").create_app(**identity)
    else:
        wsgi_app = load_example("shop/django_shop").create_application(**identity)
    try:
        with serve_wsgi(wsgi_app) as url:
            yield url
    finally:
        middleware = wsgi_app if framework == "django" else wsgi_app.wsgi_app
        middleware.close()


@pytest.fixture
def shop(audience_server: AudienceServer, tmp_path: Path) -> Iterator[str]:
    """The Starlette shop on loopback."""
    with serve_shop("starlette", audience_server.url, tmp_path / "shop-sdk") as url:
        yield url


@pytest.fixture(params=FRAMEWORKS)
def any_shop(
    request: pytest.FixtureRequest, audience_server: AudienceServer, tmp_path: Path
) -> Iterator[str]:
    """The shop in each framework in turn."""
    with serve_shop(request.param, audience_server.url, tmp_path / "shop-sdk") as url:
        yield url


def server_event(admin_api: AdminApi, event: str, **ids: str | None) -> dict[str, Any]:
    """The one server-side ``event`` stored with exactly these ``anonymousId``/``userId``."""
    found = admin_api.wait_for_events(
        "sdk",
        1,
        where=lambda stored: (
            stored.get("event") == event
            and all(stored.get(name) == value for name, value in ids.items())
        ),
    )
    return found[0]


def profile_id(admin_api: AdminApi, **identifier: str) -> str:
    """The id of the profile holding ``identifier``, once resolution has reached it."""
    found: str = admin_api.wait_for_profile(timeout=15, **identifier)["id"]
    return found


def profile_message_ids(admin_api: AdminApi, person: str, wanted: set[str]) -> set[str]:
    """The messageIds of the events linked to profile ``person``, once ``wanted`` are in (or
    after 15 seconds)."""
    deadline = time.monotonic() + 15
    while True:
        events = admin_api.profile_events(person, limit=1000)
        found = {item["message"]["messageId"] for item in events}
        if wanted <= found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_the_shop_journey_keeps_one_identity_in_the_browser_and_the_server(
    browser_context: BrowserContext,
    audience_server: AudienceServer,
    admin_api: AdminApi,
    any_shop: str,
) -> None:
    shop = any_shop
    visitor = SourcePage(browser_context.new_page(), audience_server.url)
    user_id = f"shopper-{uuid.uuid4().hex[:8]}"

    # A first visit: the server's cookie gives the browser source its anonymous id.
    landing = visitor.open(f"{shop}/")
    anonymous = visitor.cookies()["ajs_anonymous_id"]
    assert landing["anonymousId"] == anonymous
    assert landing["userId"] is None

    # Add to cart: a browser track, then a server-side track in the cart view.
    product = visitor.open(f"{shop}/products/tee")
    added = visitor.send_by(lambda: visitor.page.click("#add"))
    cart = server_event(admin_api, "Cart Updated", anonymousId=anonymous)
    assert (product["anonymousId"], added["anonymousId"]) == (anonymous, anonymous)
    assert added["event"] == "Product Added"
    assert cart["userId"] is None
    assert cart["properties"]["sku"] == "tee"

    # Log in: identify in the login view; the checkout page's browser events carry the user.
    visitor.open(f"{shop}/login")
    visitor.page.fill("#user", user_id)
    checkout = visitor.send_by(lambda: visitor.page.click("#submit"))
    identify = admin_api.wait_for_events("sdk", 1, type="identify", userId=user_id)[0]
    assert (identify["anonymousId"], identify["traits"]) == (
        anonymous,
        {"email": f"{user_id}@example.com"},
    )
    assert (checkout["anonymousId"], checkout["userId"]) == (anonymous, user_id)
    assert visitor.cookies()["ajs_user_id"] == user_id

    # Checkout in the browser, the order completed on the server: the same ids.
    started = visitor.send_by(lambda: visitor.page.click("#order"))
    order = server_event(admin_api, "Order Completed", anonymousId=anonymous, userId=user_id)
    assert (started["event"], started["anonymousId"], started["userId"]) == (
        "Checkout Started",
        anonymous,
        user_id,
    )
    assert order["properties"]["total"] == 25.0

    # One profile holds both halves: the browser's events and the server's.
    person = profile_id(admin_api, userId=user_id)
    assert profile_id(admin_api, anonymousId=anonymous) == person
    wanted = {started["messageId"], order["messageId"], added["messageId"], cart["messageId"]}
    assert wanted <= profile_message_ids(admin_api, person, wanted)

    # Log out: a new anonymous id in the browser, no user id, cookies to match.
    signed_out = visitor.open(f"{shop}/logout")
    fresh = signed_out["anonymousId"]
    assert fresh not in (None, anonymous)
    assert signed_out["userId"] is None
    assert visitor.cookies().get("ajs_anonymous_id") == fresh
    assert "ajs_user_id" not in visitor.cookies()

    # Anonymous again: the server follows the new anonymous id.
    visitor.open(f"{shop}/products/mug")
    again = visitor.send_by(lambda: visitor.page.click("#add"))
    assert (again["anonymousId"], again["userId"]) == (fresh, None)
    assert server_event(admin_api, "Cart Updated", anonymousId=fresh)["userId"] is None
    assert profile_id(admin_api, anonymousId=fresh) != person

    # What audience stored from the browser carries the ids the browser sent at each step.
    sent = [landing, product, added, checkout, started, signed_out, again]
    stored = admin_api.wait_for_message_ids("browser", [body["messageId"] for body in sent])
    assert [(e["anonymousId"], e.get("userId")) for e in stored.values()] == [
        (anonymous, None),
        (anonymous, None),
        (anonymous, None),
        (anonymous, user_id),
        (anonymous, user_id),
        (fresh, None),
        (fresh, None),
    ]


def test_ids_the_browser_source_sets_are_read_by_the_server(
    browser_context: BrowserContext, audience_server: AudienceServer, admin_api: AdminApi, shop: str
) -> None:
    visitor = SourcePage(browser_context.new_page(), audience_server.url)
    browser_anonymous = f"browser-anon-{uuid.uuid4().hex[:8]}"
    user_id = f"browser-user-{uuid.uuid4().hex[:8]}"
    visitor.open(f"{shop}/products/tee")
    visitor.run(f"analytics.setAnonymousId('{browser_anonymous}')")
    visitor.send(f"analytics.identify('{user_id}')")
    assert visitor.cookies()["ajs_anonymous_id"] == browser_anonymous

    visitor.send_by(lambda: visitor.page.click("#add"))

    cart = server_event(admin_api, "Cart Updated", anonymousId=browser_anonymous)
    assert cart["userId"] == user_id


def test_legacy_quoted_cookies_are_read_and_rewritten_raw(
    browser_context: BrowserContext, audience_server: AudienceServer, admin_api: AdminApi, shop: str
) -> None:
    legacy = f"legacy-{uuid.uuid4().hex[:8]}"
    browser_context.add_cookies(
        [{"name": "ajs_anonymous_id", "value": f"%22{legacy}%22", "url": shop}]
    )
    visitor = SourcePage(browser_context.new_page(), audience_server.url)

    product = visitor.open(f"{shop}/products/tee")
    visitor.send_by(lambda: visitor.page.click("#add"))

    assert product["anonymousId"] == legacy
    assert server_event(admin_api, "Cart Updated", anonymousId=legacy)["userId"] is None
    assert visitor.cookies()["ajs_anonymous_id"] == legacy


def test_a_cookie_deleted_in_the_browser_comes_back_from_local_storage_and_the_server_follows(
    browser_context: BrowserContext, audience_server: AudienceServer, admin_api: AdminApi, shop: str
) -> None:
    visitor = SourcePage(browser_context.new_page(), audience_server.url)
    first = visitor.open(f"{shop}/")
    anonymous = first["anonymousId"]
    browser_context.clear_cookies()

    product = visitor.open(f"{shop}/products/tee")
    visitor.send_by(lambda: visitor.page.click("#add"))

    assert product["anonymousId"] == anonymous
    assert visitor.cookies()["ajs_anonymous_id"] == anonymous
    assert (
        server_event(admin_api, "Cart Updated", anonymousId=anonymous)["properties"]["sku"] == "tee"
    )
