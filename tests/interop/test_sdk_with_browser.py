"""Our SDK on a site's backend and the real browser source on its pages share one visitor.

The backend reads the request's ``ajs_*`` cookies through ``RequestCookieStore`` and sends with
``Analytics.for_store``, so a server-side event lands on the anonymous id (and user id) the browser
source set; and on a first visit the backend's ``Set-Cookie`` gives the browser source the id the
server already used.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from audience import Analytics
from audience.sdk.stores import RequestCookieStore
from interop.browser import SourcePage
from interop.fixtures import INTEROP_SOURCES
from interop.harness import SiteRequest, StaticSite
from support import AdminApi, AudienceServer

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext


@pytest.fixture
def backend(audience_server: AudienceServer) -> Iterator[Analytics]:
    """The site backend's SDK client, sending to the ``sdk`` source."""
    with Analytics(INTEROP_SOURCES["sdk"], host=audience_server.url, storage="memory") as analytics:
        yield analytics


@pytest.fixture
def site_routes(static_site: StaticSite) -> Iterator[str]:
    """A unique path prefix for this test's backend routes, removed afterwards."""
    prefix = f"/backend-{uuid.uuid4().hex[:8]}"
    try:
        yield prefix
    finally:
        for path in [path for path in static_site.handlers if path.startswith(prefix)]:
            del static_site.handlers[path]


def test_a_backend_event_lands_on_the_ids_the_browser_source_set(
    browser_context: BrowserContext,
    audience_server: AudienceServer,
    static_site: StaticSite,
    admin_api: AdminApi,
    backend: Analytics,
    site_routes: str,
) -> None:
    event_name = f"Server Checkout {site_routes}"

    def checkout(request: SiteRequest) -> tuple[int, list[tuple[str, str]], bytes]:
        cookies = RequestCookieStore(request.cookies())
        backend.for_store(cookies).track(event_name, {"order_id": "o-1"})
        headers = [("Set-Cookie", value) for value in cookies.set_cookie_headers()]
        return 200, [("Content-Type", "application/json"), *headers], b"{}"

    static_site.handlers[f"{site_routes}/checkout"] = checkout
    source_page = SourcePage(browser_context.new_page(), audience_server.url)
    landing = source_page.open(static_site.url("cio-snippet.html"))
    source_page.send("analytics.identify('user_123')")
    source_page.run(f"fetch('{site_routes}/checkout').then((response) => response.status)")
    assert backend.flush(timeout=15)

    stored = admin_api.wait_for_events(
        "sdk", 1, where=lambda event: event.get("event") == event_name
    )
    assert stored[0]["anonymousId"] == landing["anonymousId"]
    assert stored[0]["userId"] == "user_123"
    assert stored[0]["properties"] == {"order_id": "o-1"}


def test_on_a_first_visit_the_browser_source_adopts_the_anonymous_id_the_backend_set(
    browser_context: BrowserContext,
    audience_server: AudienceServer,
    static_site: StaticSite,
    admin_api: AdminApi,
    backend: Analytics,
    site_routes: str,
) -> None:
    page_file = static_site.resolve("/cio-snippet.html")
    assert page_file is not None
    minted: list[str | None] = []

    def landing(request: SiteRequest) -> tuple[int, list[tuple[str, str]], bytes]:
        cookies = RequestCookieStore(request.cookies())
        visitor = backend.for_store(cookies)
        visitor.page("Landing", {"path": request.path})
        minted.append(visitor.anonymous_id())
        headers = [("Set-Cookie", value) for value in cookies.set_cookie_headers()]
        page = static_site.render(page_file)
        return 200, [("Content-Type", "text/html; charset=utf-8"), *headers], page

    static_site.handlers[f"{site_routes}/landing"] = landing
    source_page = SourcePage(browser_context.new_page(), audience_server.url)
    browser_page = source_page.open(static_site.url(f"{site_routes}/landing"))
    assert backend.flush(timeout=15)

    assert len(minted) == 1
    assert minted[0] is not None
    assert browser_page["anonymousId"] == minted[0]
    assert source_page.cookies()["ajs_anonymous_id"] == minted[0]
    stored_browser = admin_api.wait_for_message_ids("browser", [browser_page["messageId"]])
    assert stored_browser[browser_page["messageId"]]["anonymousId"] == minted[0]
    server_side = admin_api.wait_for_events(
        "sdk", 1, where=lambda event: event.get("anonymousId") == minted[0]
    )
    assert (server_side[0]["type"], server_side[0]["name"]) == ("page", "Landing")
