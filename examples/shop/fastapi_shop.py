"""The shop of ``shop.py`` in FastAPI: the same pages (``shop_pages.py``) and server-side events,
the visitor's client from ``audience.web.IdentityMiddleware`` in ``request.state.analytics``.

    AUDIENCE_URL=http://127.0.0.1:8000 SERVER_WRITE_KEY=... BROWSER_WRITE_KEY=... \\
        uvicorn --app-dir examples/shop fastapi_shop:app --port 5000
"""

from __future__ import annotations

import itertools
import os
from typing import Annotated, Any

from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from shop_pages import PRODUCTS, ShopPages

from audience.web import IdentityMiddleware, Visitor


def visitor(request: Request) -> Visitor:
    """The client of the visitor making ``request``."""
    client: Visitor = request.state.analytics
    return client


def create_app(
    *, audience_url: str, write_key: str, browser_write_key: str, **identity: Any
) -> FastAPI:
    """The shop; ``identity`` holds the middleware's other keyword arguments."""
    pages = ShopPages(audience_url, browser_write_key)
    order_numbers = itertools.count(1001)
    app = FastAPI()

    @app.get("/", response_class=HTMLResponse)
    async def home() -> str:
        return pages.home()

    @app.get("/products/{sku}", response_class=HTMLResponse)
    async def product(sku: str) -> HTMLResponse:
        page = pages.product(sku)
        return HTMLResponse(pages.not_found(), 404) if page is None else HTMLResponse(page)

    @app.post("/cart")
    async def cart(request: Request, sku: Annotated[str, Form()]) -> dict[str, list[str]]:
        if sku not in PRODUCTS:
            raise HTTPException(404, "no such product")
        name, price = PRODUCTS[sku]
        visitor(request).track("Cart Updated", {"sku": sku, "name": name, "price": price})
        return {"cart": [sku]}

    @app.get("/login", response_class=HTMLResponse)
    async def login_form() -> str:
        return pages.login()

    @app.post("/login")
    async def login(request: Request, user: Annotated[str, Form()] = "") -> RedirectResponse:
        if not user.strip():
            return RedirectResponse("/login", status_code=303)
        visitor(request).identify(user.strip(), {"email": f"{user.strip()}@example.com"})
        return RedirectResponse("/checkout", status_code=303)

    @app.get("/checkout", response_class=HTMLResponse)
    async def checkout() -> str:
        return pages.checkout()

    @app.post("/orders")
    async def orders(request: Request) -> dict[str, str]:
        order_id = f"o-{next(order_numbers)}"
        visitor(request).track("Order Completed", {"order_id": order_id, "total": 25.0})
        return {"order_id": order_id}

    @app.get("/logout", response_class=HTMLResponse)
    async def logout(request: Request) -> str:
        visitor(request).reset()
        return pages.signed_out()

    app.add_middleware(IdentityMiddleware, write_key=write_key, host=audience_url, **identity)
    return app


if os.environ.get("SERVER_WRITE_KEY"):
    app = create_app(
        audience_url=os.environ.get("AUDIENCE_URL", "http://127.0.0.1:8000"),
        write_key=os.environ["SERVER_WRITE_KEY"],
        browser_write_key=os.environ["BROWSER_WRITE_KEY"],
    )
