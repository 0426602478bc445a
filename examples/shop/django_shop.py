"""The shop of ``shop.py`` as a one-file Django project: the same pages (``shop_pages.py``) and
server-side events, through ``audience.web.IdentityWSGIMiddleware`` around Django's WSGI
application.

    AUDIENCE_URL=http://127.0.0.1:8000 SERVER_WRITE_KEY=... BROWSER_WRITE_KEY=... \\
        python examples/shop/django_shop.py
"""

from __future__ import annotations

import itertools
import os
from typing import Any

from django.conf import settings
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
)
from django.urls import path
from shop_pages import PRODUCTS, ShopPages

from audience.web import ENVIRON_KEY, IdentityWSGIMiddleware, Visitor

_pages: ShopPages | None = None
_order_numbers = itertools.count(1001)


def pages() -> ShopPages:
    assert _pages is not None, "create_application() first"
    return _pages


def visitor(request: HttpRequest) -> Visitor:
    """The client of the visitor making ``request`` (Django's ``META`` is the WSGI environ)."""
    client: Visitor = request.META[ENVIRON_KEY]
    return client


def home(request: HttpRequest) -> HttpResponse:
    return HttpResponse(pages().home())


def product(request: HttpRequest, sku: str) -> HttpResponse:
    page = pages().product(sku)
    return HttpResponse(pages().not_found(), status=404) if page is None else HttpResponse(page)


def add_to_cart(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    sku = request.POST.get("sku", "")
    if sku not in PRODUCTS:
        return JsonResponse({"error": "no such product"}, status=404)
    name, price = PRODUCTS[sku]
    visitor(request).track("Cart Updated", {"sku": sku, "name": name, "price": price})
    return JsonResponse({"cart": [sku]})


def login(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return HttpResponse(pages().login())
    user = request.POST.get("user", "").strip()
    if not user:
        return HttpResponseRedirect("/login", status=303)
    visitor(request).identify(user, {"email": f"{user}@example.com"})
    return HttpResponseRedirect("/checkout", status=303)


def checkout(request: HttpRequest) -> HttpResponse:
    return HttpResponse(pages().checkout())


def place_order(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    order_id = f"o-{next(_order_numbers)}"
    visitor(request).track("Order Completed", {"order_id": order_id, "total": 25.0})
    return JsonResponse({"order_id": order_id})


def logout(request: HttpRequest) -> HttpResponse:
    visitor(request).reset()
    return HttpResponse(pages().signed_out())


urlpatterns = [
    path("", home),
    path("products/<str:sku>", product),
    path("cart", add_to_cart),
    path("login", login),
    path("checkout", checkout),
    path("orders", place_order),
    path("logout", logout),
]


def create_application(
    *, audience_url: str, browser_write_key: str, **identity: Any
) -> IdentityWSGIMiddleware:
    """Django's WSGI application inside the middleware; ``identity`` holds the middleware's
    keyword arguments (``write_key``, ``host`` or ``analytics``, cookie settings...)."""
    global _pages
    _pages = ShopPages(audience_url, browser_write_key)
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

    audience_url = os.environ.get("AUDIENCE_URL", "http://127.0.0.1:8000")
    application = create_application(
        audience_url=audience_url,
        browser_write_key=os.environ["BROWSER_WRITE_KEY"],
        write_key=os.environ["SERVER_WRITE_KEY"],
        host=audience_url,
    )
    with make_server("127.0.0.1", int(os.environ.get("PORT", "5000")), application) as server:
        server.serve_forever()
