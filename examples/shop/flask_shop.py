"""The shop of ``shop.py`` in Flask: the same pages (``shop_pages.py``) and server-side events,
the visitor's client from ``audience.web.IdentityWSGIMiddleware`` in the WSGI environ.

    AUDIENCE_URL=http://127.0.0.1:8000 SERVER_WRITE_KEY=... BROWSER_WRITE_KEY=... \\
        flask --app examples/shop/flask_shop.py run
"""

from __future__ import annotations

import itertools
import os
from typing import Any

from flask import Flask, redirect, request
from shop_pages import PRODUCTS, ShopPages
from werkzeug.wrappers import Response

from audience.web import ENVIRON_KEY, IdentityWSGIMiddleware, Visitor


def visitor() -> Visitor:
    """The client of the visitor making the current request."""
    client: Visitor = request.environ[ENVIRON_KEY]
    return client


def create_app(*, audience_url: str, browser_write_key: str, **identity: Any) -> Flask:
    """The shop; ``identity`` holds the middleware's keyword arguments (``write_key``, ``host``
    or ``analytics``, cookie settings...)."""
    pages = ShopPages(audience_url, browser_write_key)
    order_numbers = itertools.count(1001)
    app = Flask(__name__)

    @app.get("/")
    def home() -> str:
        return pages.home()

    @app.get("/products/<sku>")
    def product(sku: str) -> tuple[str, int]:
        page = pages.product(sku)
        return (pages.not_found(), 404) if page is None else (page, 200)

    @app.post("/cart")
    def add_to_cart() -> tuple[dict[str, Any], int]:
        sku = request.form.get("sku", "")
        if sku not in PRODUCTS:
            return {"error": "no such product"}, 404
        name, price = PRODUCTS[sku]
        visitor().track("Cart Updated", {"sku": sku, "name": name, "price": price})
        return {"cart": [sku]}, 200

    @app.get("/login")
    def login_form() -> str:
        return pages.login()

    @app.post("/login")
    def login() -> Response:
        user = request.form.get("user", "").strip()
        if not user:
            return redirect("/login", code=303)
        visitor().identify(user, {"email": f"{user}@example.com"})
        return redirect("/checkout", code=303)

    @app.get("/checkout")
    def checkout() -> str:
        return pages.checkout()

    @app.post("/orders")
    def place_order() -> dict[str, Any]:
        order_id = f"o-{next(order_numbers)}"
        visitor().track("Order Completed", {"order_id": order_id, "total": 25.0})
        return {"order_id": order_id}

    @app.get("/logout")
    def logout() -> str:
        visitor().reset()
        return pages.signed_out()

    app.wsgi_app = IdentityWSGIMiddleware(app.wsgi_app, **identity)  # type: ignore[method-assign]
    return app


if os.environ.get("SERVER_WRITE_KEY"):
    app = create_app(
        audience_url=os.environ.get("AUDIENCE_URL", "http://127.0.0.1:8000"),
        browser_write_key=os.environ["BROWSER_WRITE_KEY"],
        write_key=os.environ["SERVER_WRITE_KEY"],
        host=os.environ.get("AUDIENCE_URL", "http://127.0.0.1:8000"),
    )
