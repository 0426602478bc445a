"""``audience serve --public-url``: the settings send the browser source to the public address."""

from __future__ import annotations

from typing import TYPE_CHECKING

from interop.browser import SourcePage
from interop.fixtures import ServerFactory
from interop.harness import CIO_BROWSER_BUNDLE, PAGES_DIR, StaticSite

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

WRITE_KEY = "wk_interop_public_url"


def test_the_browser_source_sends_to_the_public_url_named_in_the_settings(
    browser_context: BrowserContext, audience_server_factory: ServerFactory
) -> None:
    server = audience_server_factory(
        sources={"browser": WRITE_KEY}, browser_bundles=(CIO_BROWSER_BUNDLE,), start=False
    )
    public_origin = f"http://localhost:{server.port}"
    server.extra_args = ("--public-url", public_origin)
    server.start()
    values = {"api_origin": server.url, "write_key:browser": WRITE_KEY}
    with StaticSite({"/": PAGES_DIR}, values) as site, server.admin() as admin:
        source_page = SourcePage(browser_context.new_page(), public_origin)
        landing = source_page.open(site.url("cio-snippet.html"))
        source_page.send("analytics.track('Through The Public URL')")

        stored = admin.wait_for_message_ids(
            "browser", [request.body["messageId"] for request in source_page.sent]
        )
    assert [request.status for request in source_page.sent] == [200, 200]
    page, track = stored.values()
    assert page["anonymousId"] == track["anonymousId"] == landing["anonymousId"]
    assert track["event"] == "Through The Public URL"
    assert track["context"]["ip"] == "127.0.0.1"
