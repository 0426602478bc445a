"""Benchmark: what the identity middleware adds to a web request, and a server-side track in a view.

Calls a Starlette app in process (no sockets, so only the app's own work is timed), in three
forms: the bare app; the app under ``audience.web.IdentityMiddleware`` with a view that never
uses analytics (read the ``ajs_*`` cookies, refresh them on the response); and a view that sends
``track()`` for the visitor. The peer of the last one is the same view sending with
``Analytics.for_user()`` without the middleware, which is what an app does by hand today.
Delivery goes to a recording transport, so the figures are the caller's cost.

    .venv/bin/python bench/web_middleware.py [--requests 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from audience import Analytics
from audience.sdk.testing import RecordingTransport
from audience.web import IdentityMiddleware, Visitor

COOKIE = b"session=s-1; ajs_anonymous_id=0b4e6f4e-2b7c-4d2a-9d7f-3c1f5e8a9b10; ajs_user_id=user-42"


def build(analytics: Analytics, *, middleware: bool) -> Any:
    async def quiet(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def tracked(request: Request) -> Response:
        if middleware:
            visitor: Visitor = request.state.analytics
            visitor.track("Order Completed", {"order_id": "o-1", "total": 25.0})
        else:
            sender = analytics.for_user(
                request.cookies.get("ajs_user_id"), request.cookies.get("ajs_anonymous_id")
            )
            sender.track("Order Completed", {"order_id": "o-1", "total": 25.0})
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/quiet", quiet), Route("/tracked", tracked)])
    if middleware:
        app.add_middleware(IdentityMiddleware, analytics=analytics)
    return app


async def run(app: Any, path: str, requests: int) -> float:
    """Microseconds per request, ``requests`` requests one after another."""
    scope_base = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"www.example.com"), (b"cookie", COOKIE)],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    started = time.perf_counter()
    for _ in range(requests):
        await app(dict(scope_base), receive, send)
    return (time.perf_counter() - started) / requests * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    figures: dict[str, list[float]] = {}
    with Analytics("wk_bench", storage="memory", transport=RecordingTransport()) as analytics:
        bare = build(analytics, middleware=False)
        wrapped = build(analytics, middleware=True)
        cases = {
            "bare app, view without analytics": (bare, "/quiet"),
            "middleware, view without analytics": (wrapped, "/quiet"),
            "for_user() track in the view (peer)": (bare, "/tracked"),
            "middleware, visitor track in the view": (wrapped, "/tracked"),
        }
        for _ in range(args.rounds):
            for name, (app, path) in cases.items():
                analytics.flush()  # no delivery of an earlier case competes with this one
                figures.setdefault(name, []).append(asyncio.run(run(app, path, args.requests)))
    medians = {name: statistics.median(values) for name, values in figures.items()}
    print(f"{args.requests} requests per round, {args.rounds} rounds, median µs per request:")
    for name, value in medians.items():
        print(f"  {name:<40} {value:8.1f}")
    quiet = (
        medians["middleware, view without analytics"] - medians["bare app, view without analytics"]
    )
    track = (
        medians["middleware, visitor track in the view"]
        - medians["for_user() track in the view (peer)"]
    )
    print(f"middleware cost per request: {quiet:.1f} µs (view without analytics)")
    print(f"visitor track vs for_user() track by hand: {track:+.1f} µs per request")


if __name__ == "__main__":
    main()
