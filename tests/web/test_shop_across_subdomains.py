"""The shop on two subdomains of one registrable domain, in Chromium with the real browser source:
the server's cookie domain is the one the browser source's own probe finds, so both write one
shared cookie and a visitor keeps one anonymous id from ``shop.`` to ``www.``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from interop.browser import SourcePage
from interop.fixtures import INTEROP_SOURCES
from interop.harness import CHROMIUM_ARGS, CHROMIUM_EXECUTABLE
from support import AdminApi, AudienceServer, LiveServer

from .serving import load_example

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext

shop_module = load_example("shop/shop")
DOMAIN = "example.test"


@pytest.fixture(scope="module")
def chromium_with_names(chromium: Browser) -> Iterator[Browser]:
    """Chromium resolving every ``*.example.test`` name to 127.0.0.1."""
    browser = chromium.browser_type.launch(
        executable_path=CHROMIUM_EXECUTABLE,
        headless=True,
        args=[*CHROMIUM_ARGS, f"--host-resolver-rules=MAP *.{DOMAIN} 127.0.0.1"],
    )
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def context(chromium_with_names: Browser) -> Iterator[BrowserContext]:
    context = chromium_with_names.new_context()
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def shop_port(audience_server: AudienceServer, tmp_path: Path) -> Iterator[int]:
    app = shop_module.create_app(
        audience_url=audience_server.url,
        write_key=INTEROP_SOURCES["sdk"],
        browser_write_key=INTEROP_SOURCES["browser"],
        storage_dir=tmp_path / "shop-sdk",
    )
    with LiveServer(app) as server:
        yield server.port


def test_one_anonymous_id_spans_the_subdomains_of_the_shop(
    context: BrowserContext, audience_server: AudienceServer, admin_api: AdminApi, shop_port: int
) -> None:
    visitor = SourcePage(context.new_page(), audience_server.url)

    landing = visitor.open(f"http://shop.{DOMAIN}:{shop_port}/")
    anonymous = landing["anonymousId"]
    product = visitor.open(f"http://www.{DOMAIN}:{shop_port}/products/tee")
    visitor.send_by(lambda: visitor.page.click("#add"))

    assert product["anonymousId"] == anonymous
    cookies = [c for c in context.cookies() if c.get("name") == "ajs_anonymous_id"]
    assert [(c.get("domain"), c.get("value")) for c in cookies] == [(f".{DOMAIN}", anonymous)]
    stored = admin_api.wait_for_events(
        "sdk", 1, where=lambda event: event.get("event") == "Cart Updated", anonymousId=anonymous
    )
    assert stored[0]["properties"]["sku"] == "tee"
    assert uuid.UUID(anonymous).version == 4


def test_a_host_only_duplicate_of_the_anonymous_id_is_removed_and_its_id_kept(
    context: BrowserContext, audience_server: AudienceServer, shop_port: int
) -> None:
    shop = f"http://shop.{DOMAIN}:{shop_port}"
    context.add_cookies(
        [
            {"name": "ajs_anonymous_id", "value": "host-only-anon", "url": shop},
            {
                "name": "ajs_anonymous_id",
                "value": "domain-anon",
                "domain": f".{DOMAIN}",
                "path": "/",
            },
        ]
    )
    visitor = SourcePage(context.new_page(), audience_server.url)

    landing = visitor.open(f"{shop}/")

    cookies = [c for c in context.cookies() if c.get("name") == "ajs_anonymous_id"]
    assert [(c.get("domain"), c.get("value")) for c in cookies] == [
        (f".{DOMAIN}", landing["anonymousId"])
    ]
