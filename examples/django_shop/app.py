"""A tiny Django shop in one file whose views send server-side events for the visitor the browser
source tracks, through ``audience.web.IdentityWSGIMiddleware`` around Django's WSGI application.

    SERVER_WRITE_KEY=... AUDIENCE_URL=http://127.0.0.1:8000 python examples/django_shop/app.py
"""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import path

from audience.web import ENVIRON_KEY, IdentityWSGIMiddleware, Visitor


def visitor(request: HttpRequest) -> Visitor:
    """The client of the visitor making ``request`` (Django's ``META`` is the WSGI environ)."""
    client: Visitor = request.META[ENVIRON_KEY]
    return client


def add_to_cart(request: HttpRequest) -> HttpResponse:
    visitor(request).track("Cart Updated", {"sku": request.POST["sku"]})
    return JsonResponse({"cart": [request.POST["sku"]]})


def login(request: HttpRequest) -> HttpResponse:
    user = request.POST["user"]
    visitor(request).identify(user, {"email": f"{user}@example.com"})
    return HttpResponseRedirect("/checkout", status=303)


def place_order(request: HttpRequest) -> HttpResponse:
    visitor(request).track("Order Completed", {"order_id": "o-1001", "total": 25.0})
    return JsonResponse({"order_id": "o-1001"})


def logout(request: HttpRequest) -> HttpResponse:
    visitor(request).reset()
    return HttpResponse("Signed out")


urlpatterns = [
    path("cart", add_to_cart),
    path("login", login),
    path("orders", place_order),
    path("logout", logout),
]


def create_application(**identity: Any) -> IdentityWSGIMiddleware:
    """Django's WSGI application inside the middleware; ``identity`` holds the middleware's
    keyword arguments (``write_key``, ``host``, cookie settings...)."""
    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY", "example-only-not-secret"),
            ROOT_URLCONF=__name__,
            ALLOWED_HOSTS=["*"],
            MIDDLEWARE=[],
            INSTALLED_APPS=[],
            USE_TZ=True,
        )
    from django.core.wsgi import get_wsgi_application

    return IdentityWSGIMiddleware(get_wsgi_application(), **identity)


if __name__ == "__main__":
    from wsgiref.simple_server import make_server

    application = create_application(
        write_key=os.environ["SERVER_WRITE_KEY"],
        host=os.environ.get("AUDIENCE_URL", "http://127.0.0.1:8000"),
    )
    with make_server("127.0.0.1", int(os.environ.get("PORT", "5000")), application) as server:
        server.serve_forever()
