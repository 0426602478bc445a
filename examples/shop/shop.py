"""A small Starlette shop whose pages run the browser source and whose views send server-side
events, both on one visitor identity through ``audience.web.IdentityMiddleware``. The pages and
the journey are in ``shop_pages.py``; ``fastapi_shop.py``, ``flask_shop.py`` and
``django_shop.py`` are the same shop in FastAPI, Flask and Django.

Run it next to ``audience serve --browser-bundle ...``::

    AUDIENCE_URL=http://127.0.0.1:8000 SERVER_WRITE_KEY=... BROWSER_WRITE_KEY=... \\
        python examples/shop/shop.py
"""

from __future__ import annotations

import itertools
import os
from typing import Any
from urllib.parse import parse_qs

from shop_pages import PRODUCTS, ShopPages
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from audience.web import IdentityMiddleware, Visitor


def create_app(
    *, audience_url: str, write_key: str, browser_write_key: str, **identity: Any
) -> Starlette:
    """The shop: server-side events go to the source of ``write_key``, the browser's to the
    source of ``browser_write_key``, both at ``audience_url``; ``identity`` holds the
    middleware's other keyword arguments (cookie settings, ``storage_dir``...)."""
    pages = ShopPages(audience_url, browser_write_key)
    order_numbers = itertools.count(1001)

    def visitor(request: Request) -> Visitor:
        client: Visitor = request.state.analytics
        return client

    async def home(request: Request) -> Response:
        return HTMLResponse(pages.home())

    async def product(request: Request) -> Response:
        page = pages.product(request.path_params["sku"])
        return HTMLResponse(pages.not_found(), 404) if page is None else HTMLResponse(page)

    async def cart(request: Request) -> Response:
        sku = parse_qs((await request.body()).decode()).get("sku", [""])[0]
        if sku not in PRODUCTS:
            return JSONResponse({"error": "no such product"}, status_code=404)
        name, price = PRODUCTS[sku]
        visitor(request).track("Cart Updated", {"sku": sku, "name": name, "price": price})
        return JSONResponse({"cart": [sku]})

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return HTMLResponse(pages.login())
        user = parse_qs((await request.body()).decode()).get("user", [""])[0].strip()
        if not user:
            return RedirectResponse("/login", status_code=303)
        visitor(request).identify(user, {"email": f"{user}@example.com"})
        return RedirectResponse("/checkout", status_code=303)

    async def checkout(request: Request) -> Response:
        return HTMLResponse(pages.checkout())

    async def orders(request: Request) -> Response:
        order_id = f"o-{next(order_numbers)}"
        visitor(request).track("Order Completed", {"order_id": order_id, "total": 25.0})
        return JSONResponse({"order_id": order_id})

    async def logout(request: Request) -> Response:
        visitor(request).reset()
        return HTMLResponse(pages.signed_out())

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
