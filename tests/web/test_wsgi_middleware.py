"""``IdentityWSGIMiddleware`` around a plain WSGI app served by wsgiref, spoken to by httpx with
a cookie jar, as a browser would."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from audience import Analytics
from audience.sdk.testing import RecordingTransport
from audience.web import ENVIRON_KEY, IdentityWSGIMiddleware, Visitor

from .serving import serve_wsgi


def shop(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """A WSGI app whose views use the visitor's client."""
    visitor: Visitor = environ[ENVIRON_KEY]
    path = environ["PATH_INFO"]
    query = {name: values[0] for name, values in parse_qs(environ["QUERY_STRING"]).items()}
    headers = [("Content-Type", "text/plain")]
    if path == "/buy":
        visitor.track("Order Completed", {"order_id": query["order"]})
    elif path == "/login":
        visitor.identify(query["user"])
        headers.append(("Set-Cookie", "session=s-1; Path=/"))
    elif path == "/logout":
        visitor.reset()
    elif path == "/stream":

        def body() -> Iterator[bytes]:
            yield b"part one\n"
            visitor.identify("late-user")
            yield b"part two\n"

        start_response("200 OK", headers)
        return body()
    elif path != "/":
        start_response("404 Not Found", headers)
        return [b"not found"]
    start_response("200 OK", headers)
    user = visitor.user()
    return [f"{user.anonymous_id()} {user.id()}".encode()]


@pytest.fixture
def transport() -> RecordingTransport:
    return RecordingTransport()


@pytest.fixture
def site(transport: RecordingTransport) -> Iterator[tuple[str, Analytics]]:
    with (
        Analytics("wk_web", storage="memory", transport=transport) as analytics,
        serve_wsgi(IdentityWSGIMiddleware(shop, analytics=analytics)) as url,
    ):
        yield url, analytics


@pytest.fixture
def browser(site: tuple[str, Analytics]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site[0]) as client:
        yield client


def test_a_first_visit_sets_the_anonymous_id_cookie_and_later_requests_keep_it(
    browser: httpx.Client,
) -> None:
    first = browser.get("/")
    anonymous = browser.cookies["ajs_anonymous_id"]

    assert first.text == f"{anonymous} None"
    assert first.headers.get_list("set-cookie") == [
        f"ajs_anonymous_id={anonymous}; Path=/; Max-Age=31536000; SameSite=Lax"
    ]
    assert browser.get("/").text == f"{anonymous} None"


def test_server_side_events_carry_the_ids_of_legacy_and_raw_cookies(
    site: tuple[str, Analytics], browser: httpx.Client, transport: RecordingTransport
) -> None:
    browser.cookies.set("ajs_anonymous_id", "%22classic-anon%22", domain="127.0.0.1")
    browser.get("/buy", params={"order": "o-1"})
    login = browser.get("/login", params={"user": "user-1"})
    browser.get("/buy", params={"order": "o-2"})
    assert site[1].flush(timeout=10)

    ids = [(m["type"], m["anonymousId"], m["userId"]) for m in transport.messages]
    assert ids == [
        ("track", "classic-anon", None),
        ("identify", "classic-anon", "user-1"),
        ("track", "classic-anon", "user-1"),
    ]
    assert login.headers.get_list("set-cookie") == [
        "session=s-1; Path=/",
        "ajs_user_id=user-1; Path=/; Max-Age=31536000; SameSite=Lax",
        "ajs_anonymous_id=classic-anon; Path=/; Max-Age=31536000; SameSite=Lax",
    ]


def test_reset_deletes_the_cookies_and_the_next_request_gets_a_new_anonymous_id(
    browser: httpx.Client,
) -> None:
    browser.get("/login", params={"user": "user-1"})
    before = browser.cookies["ajs_anonymous_id"]

    response = browser.get("/logout")

    assert sorted(response.headers.get_list("set-cookie")) == [
        "ajs_anonymous_id=; Path=/; Max-Age=0; SameSite=Lax",
        "ajs_user_id=; Path=/; Max-Age=0; SameSite=Lax",
    ]
    anonymous, user = browser.get("/").text.split()
    assert (user, browser.cookies["ajs_anonymous_id"]) == ("None", anonymous)
    assert anonymous != before


def test_not_found_and_head_responses_carry_the_cookies_too(browser: httpx.Client) -> None:
    browser.cookies.set("ajs_anonymous_id", "anon-1", domain="127.0.0.1")

    for response in (browser.get("/missing"), browser.head("/")):
        assert response.headers.get_list("set-cookie") == [
            "ajs_anonymous_id=anon-1; Path=/; Max-Age=31536000; SameSite=Lax"
        ]
    assert browser.get("/missing").status_code == 404


def test_a_streaming_body_keeps_the_identity_of_its_headers_and_says_so(
    browser: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    browser.cookies.set("ajs_anonymous_id", "anon-1", domain="127.0.0.1")

    with caplog.at_level(logging.WARNING, logger="audience.web.visitor"):
        response = browser.get("/stream")

    assert response.text == "part one\npart two\n"
    assert "ajs_user_id" not in browser.cookies
    assert "after the response headers were sent" in caplog.text


def test_the_host_header_chooses_the_cookie_domain(site: tuple[str, Analytics]) -> None:
    with httpx.Client(base_url=site[0], headers={"Host": "shop.example.com:8000"}) as client:
        response = client.get("/")

    [header] = response.headers.get_list("set-cookie")
    assert "; Domain=example.com; Path=/;" in header


def test_behind_a_trusted_proxy_the_forwarded_host_chooses_the_cookie_domain(
    transport: RecordingTransport,
) -> None:
    proxied = {"Host": "10.0.0.7:8000", "X-Forwarded-Host": "shop.example.co.uk"}
    with (
        Analytics("wk_web", storage="memory", transport=transport) as analytics,
        serve_wsgi(
            IdentityWSGIMiddleware(shop, analytics=analytics, trust_forwarded_host=True)
        ) as url,
    ):
        response = httpx.get(f"{url}/", headers=proxied)

    assert "; Domain=example.co.uk; Path=/;" in response.headers["set-cookie"]
