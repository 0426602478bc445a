"""A small shop whose pages run the browser source and whose views send server-side events, both
on one visitor identity through ``audience.web.IdentityMiddleware``.

The journey: visit -> page (browser) -> add to cart (browser track, then a server-side track in
the cart view) -> log in (server-side identify) -> checkout (browser) -> order completed
(server-side track) -> log out (server-side reset, and reset in the page) -> anonymous again.

Run it next to ``audience serve --browser-bundle ...``::

    AUDIENCE_URL=http://127.0.0.1:8000 SERVER_WRITE_KEY=... BROWSER_WRITE_KEY=... \\
        python examples/shop/shop.py
"""

from __future__ import annotations

import html
import itertools
import json
import os
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from audience.collector.bundle import snippet
from audience.web import IdentityMiddleware, Visitor

PRODUCTS = {"tee": ("Audience tee", 25.0), "mug": ("Pipeline mug", 12.5)}


def _page(title: str, body: str, tag: str) -> HTMLResponse:
    document = f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><link rel="icon" href="data:,"><title>{html.escape(title)}</title>
{tag}
</head>
<body>
<h1>{html.escape(title)}</h1>
{body}
</body>
</html>"""
    return HTMLResponse(document)


def create_app(
    *, audience_url: str, write_key: str, browser_write_key: str, **identity: Any
) -> Starlette:
    """The shop: server-side events go to the source of ``write_key``, the browser's to the
    source of ``browser_write_key``, both at ``audience_url``; ``identity`` holds the
    middleware's other keyword arguments (cookie settings, ``storage_dir``...)."""
    standard = snippet(browser_write_key, audience_url)
    # After a server-side log-out, the page logs the browser source out too (its localStorage
    # would otherwise bring the old ids back), then records the page on the new anonymous id.
    signed_out = standard.replace(
        "analytics.page();",
        "analytics.ready(() => { window.cioanalytics.reset(); window.cioanalytics.page(); });",
    )
    order_numbers = itertools.count(1001)

    def visitor(request: Request) -> Visitor:
        client: Visitor = request.state.analytics
        return client

    async def home(request: Request) -> Response:
        links = "".join(
            f'<li><a href="/products/{sku}">{html.escape(name)}</a></li>'
            for sku, (name, _) in PRODUCTS.items()
        )
        return _page("Shop", f'<ul>{links}</ul><a id="login" href="/login">Log in</a>', standard)

    async def product(request: Request) -> Response:
        sku = request.path_params["sku"]
        if sku not in PRODUCTS:
            return _page("Not found", "<p>No such product.</p>", standard)
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
        return _page(name, script + body, standard)

    async def cart(request: Request) -> Response:
        sku = parse_qs((await request.body()).decode()).get("sku", [""])[0]
        if sku not in PRODUCTS:
            return JSONResponse({"error": "no such product"}, status_code=404)
        name, price = PRODUCTS[sku]
        visitor(request).track("Cart Updated", {"sku": sku, "name": name, "price": price})
        return JSONResponse({"cart": [sku]})

    async def login(request: Request) -> Response:
        if request.method == "GET":
            form = (
                '<form method="post" action="/login"><input id="user" name="user">'
                '<button id="submit">Log in</button></form>'
            )
            return _page("Log in", form, standard)
        user = parse_qs((await request.body()).decode()).get("user", [""])[0].strip()
        if not user:
            return RedirectResponse("/login", status_code=303)
        visitor(request).identify(user, {"email": f"{user}@example.com"})
        return RedirectResponse("/checkout", status_code=303)

    async def checkout(request: Request) -> Response:
        script = """<script>
function placeOrder() {
  cioanalytics.track("Checkout Started", {total: 25.0});
  return fetch("/orders", {method: "POST"}).then((r) => r.json());
}
</script>"""
        body = '<button id="order" onclick="placeOrder()">Place order</button>'
        body += ' <a id="logout" href="/logout">Log out</a>'
        return _page("Checkout", script + body, standard)

    async def orders(request: Request) -> Response:
        order_id = f"o-{next(order_numbers)}"
        visitor(request).track("Order Completed", {"order_id": order_id, "total": 25.0})
        return JSONResponse({"order_id": order_id})

    async def logout(request: Request) -> Response:
        visitor(request).reset()
        return _page("Signed out", '<a id="home" href="/">Back to the shop</a>', signed_out)

    app = Starlette(
        routes=[
            Route("/", home),
            Route("/products/{sku}", product),
            Route("/cart", cart, methods=["POST"]),
            Route("/login", login, methods=["GET", "POST"]),
            Route("/checkout", checkout),
            Route("/orders", orders, methods=["POST"]),
            Route("/logout", logout),
        ]
    )
    app.add_middleware(IdentityMiddleware, write_key=write_key, host=audience_url, **identity)
    return app


if __name__ == "__main__":
    import uvicorn

    audience_url = os.environ.get("AUDIENCE_URL", "http://127.0.0.1:8000")
    uvicorn.run(
        create_app(
            audience_url=audience_url,
            write_key=os.environ["SERVER_WRITE_KEY"],
            browser_write_key=os.environ["BROWSER_WRITE_KEY"],
        ),
        host="127.0.0.1",
        port=int(os.environ.get("PORT", "5000")),
    )
