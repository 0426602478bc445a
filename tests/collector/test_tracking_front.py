"""The tracking routes answered in front of the middleware: the same replies, header for header.

Each reply is read as the ASGI messages the application sends, so the order of the headers is
checked as well as their values.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from collector_support import WRITE_KEY

from audience.collector.app import create_app
from audience.collector.parts import CollectorParts
from audience.http.security_headers import CONTENT_SECURITY_POLICY

ORIGIN = "http://shop.test"
Messages = list[dict[str, Any]]


def call(app: Any, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> Messages:
    """What ``app`` sends for one request; an error it raises is listed last as ``raised``."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    messages: Messages = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(dict(message))

    async def run() -> None:
        try:
            await app(scope, receive, send)
        except Exception as exc:
            messages.append({"raised": exc})

    asyncio.run(run())
    return messages


def head(messages: Messages) -> tuple[int, list[tuple[str, str]]]:
    start = messages[0]
    assert start["type"] == "http.response.start"
    return start["status"], [(name.decode(), value.decode()) for name, value in start["headers"]]


def event(**fields: Any) -> bytes:
    message = {"type": "track", "event": "Added", "anonymousId": "a1", "writeKey": WRITE_KEY}
    return orjson.dumps({**message, **fields})


@pytest.fixture
def parts(make_parts: Callable[..., CollectorParts]) -> CollectorParts:
    return make_parts()


def test_an_accepted_event_gets_its_json_cors_and_request_id_headers_in_order(
    parts: CollectorParts,
) -> None:
    messages = call(
        create_app(parts),
        "POST",
        "/v1/t",
        {"Origin": ORIGIN, "Content-Type": "text/plain", "X-Request-Id": "given-1"},
        event(messageId="m1"),
    )
    assert head(messages) == (
        200,
        [
            ("content-type", "application/json"),
            ("content-length", "2"),
            ("access-control-allow-origin", ORIGIN),
            ("vary", "Origin"),
            ("access-control-allow-credentials", "true"),
            ("x-request-id", "given-1"),
        ],
    )
    assert messages[1] == {"type": "http.response.body", "body": b"{}"}


def test_without_an_origin_any_origin_is_allowed_and_an_insane_request_id_is_replaced(
    parts: CollectorParts,
) -> None:
    messages = call(create_app(parts), "POST", "/v1/t", {"X-Request-Id": "no spaces"}, event())
    status, headers = head(messages)
    assert status == 200
    assert headers[:4] == [
        ("content-type", "application/json"),
        ("content-length", "2"),
        ("access-control-allow-origin", "*"),
        ("vary", "Origin"),
    ]
    assert len(headers) == 5
    name, drawn = headers[4]
    assert name == "x-request-id"
    assert drawn != "no spaces"


def test_a_preflight_is_answered_204_with_the_request_id_last(parts: CollectorParts) -> None:
    messages = call(
        create_app(parts),
        "OPTIONS",
        "/v1/t",
        {"Origin": ORIGIN, "Access-Control-Request-Headers": "content-type", "X-Request-Id": "p"},
    )
    assert head(messages) == (
        204,
        [
            ("access-control-allow-origin", ORIGIN),
            ("access-control-allow-methods", "GET, POST, OPTIONS"),
            ("access-control-allow-headers", "content-type"),
            ("access-control-max-age", "600"),
            ("vary", "Origin, Access-Control-Request-Headers"),
            ("content-length", "0"),
            ("access-control-allow-credentials", "true"),
            ("x-request-id", "p"),
        ],
    )


def test_another_method_gets_405_naming_post_with_cors_and_request_id(
    parts: CollectorParts,
) -> None:
    messages = call(create_app(parts), "GET", "/v1/batch", {"Origin": ORIGIN, "X-Request-Id": "g"})
    status, headers = head(messages)
    assert status == 405
    assert [name for name, _ in headers] == [
        "content-length",
        "content-type",
        "allow",
        "access-control-allow-origin",
        "vary",
        "access-control-allow-credentials",
        "x-request-id",
    ]
    assert ("allow", "POST") in headers
    assert orjson.loads(messages[1]["body"])["code"] == "method_not_allowed"


def test_an_unknown_write_key_gets_401_with_cors_and_request_id(parts: CollectorParts) -> None:
    messages = call(
        create_app(parts), "POST", "/v1/t", {"X-Request-Id": "k"}, event(writeKey="nope")
    )
    status, headers = head(messages)
    assert status == 401
    assert headers[2:] == [
        ("access-control-allow-origin", "*"),
        ("vary", "Origin"),
        ("x-request-id", "k"),
    ]


def test_an_unexpected_error_gets_the_plain_500_and_is_raised_to_the_server(
    parts: CollectorParts,
) -> None:
    def broken(*arguments: object) -> None:
        raise RuntimeError("broken")

    parts.ingestor.prepare = broken  # type: ignore[method-assign]
    messages = call(create_app(parts), "POST", "/v1/t", {"Origin": ORIGIN}, event())
    assert head(messages) == (
        500,
        [("content-length", "21"), ("content-type", "text/plain; charset=utf-8")],
    )
    assert messages[1]["body"] == b"Internal Server Error"
    assert isinstance(messages[2]["raised"], RuntimeError)
    assert parts.metrics.snapshot()["requests"] == {"single 500": 1}


def test_every_tracking_reply_is_counted_by_route_and_status(parts: CollectorParts) -> None:
    app = create_app(parts)
    call(app, "POST", "/v1/t", {}, event(messageId="c1"))
    call(app, "OPTIONS", "/v1/p", {})
    call(app, "POST", "/v1/m", {}, b"{}")
    call(app, "GET", "/v1/b", {})
    assert parts.metrics.snapshot()["requests"] == {
        "single 200": 1,
        "single 204": 1,
        "telemetry 200": 1,
        "batch 405": 1,
    }


def test_other_routes_still_pass_through_every_middleware(parts: CollectorParts) -> None:
    messages = call(create_app(parts), "GET", "/healthz", {"X-Request-Id": "h"})
    status, headers = head(messages)
    assert status == 200
    assert ("content-security-policy", CONTENT_SECURITY_POLICY) in headers
    assert headers[-1] == ("x-request-id", "h")
    assert parts.metrics.snapshot()["requests"] == {"other 200": 1}
