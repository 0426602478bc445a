"""A tiny Flask shop whose views send server-side events for the visitor the browser source
tracks, through ``audience.web.IdentityWSGIMiddleware``.

    SERVER_WRITE_KEY=... AUDIENCE_URL=http://127.0.0.1:8000 \\
        flask --app examples/flask_shop/app.py run
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, redirect, request
from werkzeug.wrappers import Response

from audience.web import ENVIRON_KEY, IdentityWSGIMiddleware, Visitor


def visitor() -> Visitor:
    """The client of the visitor making the current request."""
    client: Visitor = request.environ[ENVIRON_KEY]
    return client


def create_app(**identity: Any) -> Flask:
    """The shop; ``identity`` holds the middleware's keyword arguments (``write_key``, ``host``,
    cookie settings...)."""
    app = Flask(__name__)

    @app.post("/cart")
    def add_to_cart() -> dict[str, Any]:
        visitor().track("Cart Updated", {"sku": request.form["sku"]})
        return {"cart": [request.form["sku"]]}

    @app.post("/login")
    def login() -> Response:
        user = request.form["user"]
        visitor().identify(user, {"email": f"{user}@example.com"})
        return redirect("/checkout", code=303)

    @app.post("/orders")
    def place_order() -> dict[str, Any]:
        visitor().track("Order Completed", {"order_id": "o-1001", "total": 25.0})
        return {"order_id": "o-1001"}

    @app.get("/logout")
    def logout() -> str:
        visitor().reset()
        return "Signed out"

    app.wsgi_app = IdentityWSGIMiddleware(app.wsgi_app, **identity)  # type: ignore[method-assign]
    return app


if os.environ.get("SERVER_WRITE_KEY"):
    app = create_app(
        write_key=os.environ["SERVER_WRITE_KEY"],
        host=os.environ.get("AUDIENCE_URL", "http://127.0.0.1:8000"),
    )
