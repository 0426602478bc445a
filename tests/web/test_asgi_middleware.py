"""``IdentityMiddleware`` in a Starlette app served by uvicorn, spoken to by httpx with a cookie
jar, as a browser would."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from audience import Analytics
from audience.sdk.testing import RecordingTransport
from audience.web import IdentityMiddleware, Visitor
from interop.fixtures import INTEROP_SOURCES
from support import AdminApi, AudienceServer, LiveServer


def visitor_of(request: Request) -> Visitor:
    visitor: Visitor = request.state.analytics
    return visitor


async def quiet(request: Request) -> Response:
    return PlainTextResponse("no analytics here")


async def buy(request: Request) -> Response:
    visitor_of(request).track("Order Completed", {"order_id": request.query_params["order"]})
    return PlainTextResponse("bought")


async def login(request: Request) -> Response:
    visitor_of(request).identify(request.query_params["user"], {"plan": "pro"})
    response = PlainTextResponse("welcome")
    response.set_cookie("session", "s-1")
    return response


async def logout(request: Request) -> Response:
    visitor_of(request).reset()
    return PlainTextResponse("bye")


async def whoami(request: Request) -> Response:
    user = visitor_of(request).user()
    return PlainTextResponse(f"{user.anonymous_id()} {user.id()}")


async def broken(request: Request) -> Response:
    return PlainTextResponse("failed", status_code=500)


async def stream(request: Request) -> Response:
    visitor = visitor_of(request)

    async def body() -> AsyncIterator[bytes]:
        yield b"part one\n"
        visitor.identify("late-user")
        yield b"part two\n"

    return StreamingResponse(body(), media_type="text/plain")


async def live(websocket: WebSocket) -> None:
    visitor: Visitor = websocket.state.analytics
    await websocket.accept()
    await websocket.send_text(str(visitor.user().anonymous_id()))
    await websocket.close()


ROUTES = [
    WebSocketRoute("/live", live),
    Route("/", quiet, methods=["GET", "HEAD"]),
    Route("/buy", buy),
    Route("/login", login),
    Route("/logout", logout),
    Route("/whoami", whoami),
    Route("/broken", broken),
    Route("/stream", stream),
]


@pytest.fixture
def transport() -> RecordingTransport:
    return RecordingTransport()


@pytest.fixture
def site(transport: RecordingTransport) -> Iterator[tuple[str, Analytics]]:
    with Analytics("wk_web", storage="memory", transport=transport) as analytics:
        app = Starlette(routes=ROUTES)
        app.add_middleware(IdentityMiddleware, analytics=analytics)
        with LiveServer(app) as server:
            yield server.url, analytics


@pytest.fixture
def browser(site: tuple[str, Analytics]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site[0]) as client:
        yield client


def test_a_first_visit_sets_the_anonymous_id_cookie_and_later_requests_keep_it(
    browser: httpx.Client,
) -> None:
    first = browser.get("/")
    set_cookie = first.headers.get_list("set-cookie")

    anonymous = browser.cookies["ajs_anonymous_id"]
    assert set_cookie == [f"ajs_anonymous_id={anonymous}; Path=/; Max-Age=31536000; SameSite=Lax"]
    assert browser.get("/whoami").text == f"{anonymous} None"
    assert browser.get("/").headers.get_list("set-cookie") == set_cookie


def test_server_side_events_carry_the_visitors_ids(
    site: tuple[str, Analytics], browser: httpx.Client, transport: RecordingTransport
) -> None:
    browser.cookies.set("ajs_anonymous_id", "%22browser-anon%22", domain="127.0.0.1")
    browser.get("/buy", params={"order": "o-1"})
    browser.get("/login", params={"user": "user-1"})
    browser.get("/buy", params={"order": "o-2"})
    assert site[1].flush(timeout=10)

    ids = [(m["type"], m["anonymousId"], m["userId"]) for m in transport.messages]
    assert ids == [
        ("track", "browser-anon", None),
        ("identify", "browser-anon", "user-1"),
        ("track", "browser-anon", "user-1"),
    ]
    assert browser.cookies["ajs_anonymous_id"] == "browser-anon"


def test_identify_adds_the_user_cookie_next_to_the_apps_own_cookies(browser: httpx.Client) -> None:
    browser.cookies.set("ajs_anonymous_id", "anon-1", domain="127.0.0.1")

    response = browser.get("/login", params={"user": "user 1@example.com"})

    assert response.headers.get_list("set-cookie") == [
        "session=s-1; Path=/; SameSite=lax",
        "ajs_user_id=user%201@example.com; Path=/; Max-Age=31536000; SameSite=Lax",
        "ajs_anonymous_id=anon-1; Path=/; Max-Age=31536000; SameSite=Lax",
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
    assert "ajs_anonymous_id" not in browser.cookies
    anonymous, user = browser.get("/whoami").text.split()
    assert anonymous != before
    assert user == "None"
    assert browser.cookies["ajs_anonymous_id"] == anonymous


def test_the_host_header_chooses_the_cookie_domain(site: tuple[str, Analytics]) -> None:
    with httpx.Client(base_url=site[0], headers={"Host": "www.shop.example.co.uk"}) as client:
        response = client.get("/")

    [header] = response.headers.get_list("set-cookie")
    assert "; Domain=example.co.uk; Path=/;" in header


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("HEAD", "/", 200), ("GET", "/missing", 404), ("GET", "/broken", 500)],
)
def test_head_not_found_and_error_responses_carry_the_cookies_too(
    browser: httpx.Client, method: str, path: str, status: int
) -> None:
    browser.cookies.set("ajs_anonymous_id", "anon-1", domain="127.0.0.1")

    response = browser.request(method, path)

    assert response.status_code == status
    assert response.headers.get_list("set-cookie") == [
        "ajs_anonymous_id=anon-1; Path=/; Max-Age=31536000; SameSite=Lax"
    ]


def test_a_streaming_body_keeps_the_identity_of_its_headers_and_says_so(
    browser: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    browser.cookies.set("ajs_anonymous_id", "anon-1", domain="127.0.0.1")

    with caplog.at_level(logging.WARNING, logger="audience.web.visitor"):
        response = browser.get("/stream")

    assert response.text == "part one\npart two\n"
    assert response.headers.get_list("set-cookie") == [
        "ajs_anonymous_id=anon-1; Path=/; Max-Age=31536000; SameSite=Lax"
    ]
    assert "after the response headers were sent" in caplog.text


def test_concurrent_visitors_each_keep_their_own_identity(site: tuple[str, Analytics]) -> None:
    def visit(number: int) -> tuple[str, str]:
        cookies = {"ajs_anonymous_id": f"anon-{number}", "ajs_user_id": f"user-{number}"}
        with httpx.Client(base_url=site[0], cookies=cookies) as client:
            return f"anon-{number} user-{number}", client.get("/whoami").text

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(visit, range(40)))

    assert all(expected == answer for expected, answer in answers)


def test_a_write_key_and_host_given_once_deliver_to_audience_serve(
    audience_server: AudienceServer, admin_api: AdminApi, tmp_path: pytest.TempPathFactory
) -> None:
    app = Starlette(routes=ROUTES)
    app.add_middleware(
        IdentityMiddleware,
        write_key=INTEROP_SOURCES["sdk"],
        host=audience_server.url,
        storage_dir=tmp_path,
    )
    with LiveServer(app) as server, httpx.Client(base_url=server.url) as client:
        client.cookies.set("ajs_anonymous_id", "asgi-write-key-anon", domain="127.0.0.1")
        client.get("/buy", params={"order": "o-asgi"})

    # The server stopped: the lifespan's end shut the client down, delivering its events.
    [stored] = admin_api.wait_for_events("sdk", 1, anonymousId="asgi-write-key-anon")
    assert stored["properties"] == {"order_id": "o-asgi"}


def test_a_websocket_handshake_reads_and_refreshes_the_cookies(site: tuple[str, Analytics]) -> None:
    from websockets.sync.client import connect

    url = site[0].replace("http://", "ws://") + "/live"
    with connect(url, additional_headers={"Cookie": "ajs_anonymous_id=%22ws-anon%22"}) as socket:
        anonymous = socket.recv(timeout=10)
        assert socket.response is not None
        set_cookie = socket.response.headers.get_all("Set-Cookie")

    assert anonymous == "ws-anon"
    assert set_cookie == ["ajs_anonymous_id=ws-anon; Path=/; Max-Age=31536000; SameSite=Lax"]


def test_behind_a_trusted_proxy_the_forwarded_host_chooses_the_cookie_domain(
    transport: RecordingTransport,
) -> None:
    proxied = {"Host": "app-backend:8000", "X-Forwarded-Host": "www.example.com, proxy.internal"}
    with Analytics("wk_web", storage="memory", transport=transport) as analytics:
        trusting = Starlette(routes=ROUTES)
        trusting.add_middleware(IdentityMiddleware, analytics=analytics, trust_forwarded_host=True)
        default = Starlette(routes=ROUTES)
        default.add_middleware(IdentityMiddleware, analytics=analytics)
        with LiveServer(trusting) as behind, LiveServer(default) as direct:
            behind_proxy = httpx.get(f"{behind.url}/", headers=proxied)
            not_trusted = httpx.get(f"{direct.url}/", headers=proxied)

    assert "; Domain=example.com; Path=/;" in behind_proxy.headers["set-cookie"]
    assert "Domain=" not in not_trusted.headers["set-cookie"]
