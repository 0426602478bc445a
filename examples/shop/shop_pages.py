"""The shop's pages, the same in every framework's version of the shop: each carries the browser
source's snippet, and the buttons send its events and call the server's views.

The journey: visit -> page (browser) -> add to cart (browser track, then a server-side track in
the cart view) -> log in (server-side identify) -> checkout (browser) -> order completed
(server-side track) -> log out (server-side reset, and reset in the page) -> anonymous again.
"""

from __future__ import annotations

import html
import json

from audience.collector.bundle import snippet

PRODUCTS = {"tee": ("Audience tee", 25.0), "mug": ("Pipeline mug", 12.5)}


def _page(title: str, body: str, tag: str) -> str:
    return f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><link rel="icon" href="data:,"><title>{html.escape(title)}</title>
{tag}
</head>
<body>
<h1>{html.escape(title)}</h1>
{body}
</body>
</html>"""


class ShopPages:
    """The HTML of each page, the browser source loaded from ``audience_url`` with the write key
    of the browser's source."""

    def __init__(self, audience_url: str, browser_write_key: str) -> None:
        self.standard = snippet(browser_write_key, audience_url)
        # After a server-side log-out, the page logs the browser source out too (its
        # localStorage would otherwise bring the old ids back), then records the page anew.
        self.signed_out_tag = self.standard.replace(
            "analytics.page();",
            "analytics.ready(() => { window.cioanalytics.reset(); window.cioanalytics.page(); });",
        )

    def home(self) -> str:
        links = "".join(
            f'<li><a href="/products/{sku}">{html.escape(name)}</a></li>'
            for sku, (name, _) in PRODUCTS.items()
        )
        return _page(
            "Shop", f'<ul>{links}</ul><a id="login" href="/login">Log in</a>', self.standard
        )

    def product(self, sku: str) -> str | None:
        """The product's page, ``None`` for an unknown ``sku``."""
        if sku not in PRODUCTS:
            return None
        name, price = PRODUCTS[sku]
        added = json.dumps({"sku": sku, "name": name, "price": price})
        script = f"""<script>
function addToCart() {{
  cioanalytics.track("Product Added", {added});
  return fetch("/cart", {{method: "POST", body: "sku={sku}",
    headers: {{"Content-Type": "application/x-www-form-urlencoded"}}}}).then((r) => r.json());
}}
</script>"""
        body = f'<p>{price:.2f}</p><button id="add" onclick="addToCart()">Add to cart</button>'
        return _page(name, script + body, self.standard)

    def not_found(self) -> str:
        return _page("Not found", "<p>No such product.</p>", self.standard)

    def login(self) -> str:
        form = (
            '<form method="post" action="/login"><input id="user" name="user">'
            '<button id="submit">Log in</button></form>'
        )
        return _page("Log in", form, self.standard)

    def checkout(self) -> str:
        script = """<script>
function placeOrder() {
  cioanalytics.track("Checkout Started", {total: 25.0});
  return fetch("/orders", {method: "POST"}).then((r) => r.json());
}
</script>"""
        body = '<button id="order" onclick="placeOrder()">Place order</button>'
        body += ' <a id="logout" href="/logout">Log out</a>'
        return _page("Checkout", script + body, self.standard)

    def signed_out(self) -> str:
        return _page(
            "Signed out", '<a id="home" href="/">Back to the shop</a>', self.signed_out_tag
        )
