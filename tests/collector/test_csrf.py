"""State-changing requests a cookie authenticates are refused when another site sends them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from collector_support import ADMIN_TOKEN
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from audience.collector.app import build_parts, create_app
from audience.config import Settings
from audience.http.admin_guard import SESSION_COOKIE
from audience.http.csrf import cross_site_refusal
from audience.pages.login import login_page
from audience.storage.sqlite_events import SqliteEventStore
from audience.testing import CountingIds, FakeClock
from support import LiveServer

OWN = {"https://cdp.example.com"}
EVIL = "https://evil.example"


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "post"])
@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"sec-fetch-site": "cross-site"}, "Sec-Fetch-Site is cross-site"),
        ({"sec-fetch-site": "same-site"}, "Sec-Fetch-Site is same-site"),
        ({"origin": EVIL}, "Origin https://evil.example is not this server's origin"),
        ({"origin": "null"}, "Origin null is not"),
        ({"origin": "http://cdp.example.com"}, "Origin http://cdp.example.com is not"),
        ({"sec-fetch-site": "same-origin", "origin": EVIL}, "Origin https://evil.example"),
    ],
)
def test_a_state_changing_request_from_elsewhere_is_refused_naming_the_reason(
    method: str, headers: dict[str, str], reason: str
) -> None:
    refusal = cross_site_refusal(method, headers, OWN)
    assert refusal is not None
    assert refusal.startswith(reason)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"sec-fetch-site": "same-origin"},
        {"sec-fetch-site": "none"},
        {"origin": "https://cdp.example.com"},
        {"origin": "HTTPS://CDP.example.com/"},
        {"sec-fetch-site": "same-origin", "origin": "https://cdp.example.com"},
    ],
)
def test_a_request_from_this_origin_or_from_no_page_goes_on(headers: dict[str, str]) -> None:
    assert cross_site_refusal("POST", headers, OWN) is None


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_reading_is_never_refused(method: str) -> None:
    assert cross_site_refusal(method, {"sec-fetch-site": "cross-site", "origin": EVIL}, OWN) is None


class Collector:
    """A collector on loopback with one state-changing admin route, ``POST /api/things``."""

    def __init__(self, store: SqliteEventStore, settings: Settings) -> None:
        parts = build_parts(
            settings,
            store,
            admin_token=ADMIN_TOKEN,
            login_page=login_page,
            clock=FakeClock(),
            ids=CountingIds(),
        )

        async def change(request: Request) -> Response:
            return JSONResponse({"changed": True})

        route = Route("/api/things", parts.guard.protect(change), methods=["POST", "DELETE"])
        self.server = LiveServer(create_app(parts, routes=[route]))
        self.server.start()
        self.origin = self.server.url
        self.http = httpx.Client(base_url=self.server.url, timeout=30)

    def login(self, **headers: str) -> httpx.Response:
        response = self.http.post("/login", data={"token": ADMIN_TOKEN}, headers=headers)
        self.http.cookies.clear()
        return response

    def session(self) -> str:
        response = self.login()
        assert response.status_code == 303
        return response.cookies[SESSION_COOKIE]

    def close(self) -> None:
        self.http.close()
        self.server.stop()


@pytest.fixture
def make_collector(tmp_path: Path) -> Iterator[Callable[..., Collector]]:
    opened: list[Collector] = []
    store = SqliteEventStore.open(tmp_path / "events.sqlite3", synchronous="normal")

    def make(**settings: Any) -> Collector:
        collector = Collector(store, replace(Settings(data_dir=tmp_path), **settings))
        opened.append(collector)
        return collector

    yield make
    for collector in opened:
        collector.close()
    store.close()


@pytest.fixture
def collector(make_collector: Callable[..., Collector]) -> Collector:
    return make_collector()


def cookie(session: str, **headers: str) -> dict[str, str]:
    return {"Cookie": f"{SESSION_COOKIE}={session}", **headers}


@pytest.mark.parametrize(
    "foreign", [{"Origin": EVIL}, {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}]
)
def test_another_site_cannot_log_the_admin_out(
    collector: Collector, foreign: dict[str, str]
) -> None:
    session = collector.session()
    refused = collector.http.post("/logout", headers=cookie(session, **foreign))
    assert refused.status_code == 403
    assert refused.json()["code"] == "cross_site_request"
    assert next(iter(foreign)) in refused.json()["message"]
    alive = collector.http.get("/api/stats", headers=cookie(session))
    assert alive.status_code == 200


@pytest.mark.parametrize("foreign", [{"Origin": EVIL}, {"Sec-Fetch-Site": "cross-site"}])
def test_another_site_cannot_log_the_admin_in(
    collector: Collector, foreign: dict[str, str]
) -> None:
    refused = collector.login(**foreign)
    assert refused.status_code == 403
    assert "set-cookie" not in refused.headers


def test_login_and_logout_from_this_origin_are_accepted(collector: Collector) -> None:
    own = {"Origin": collector.origin, "Sec-Fetch-Site": "same-origin"}
    logged_in = collector.login(**own)
    assert logged_in.status_code == 303
    session = logged_in.cookies[SESSION_COOKIE]
    assert collector.http.post("/logout", headers=cookie(session, **own)).status_code == 303
    assert collector.http.get("/api/stats", headers=cookie(session)).status_code == 401


def test_the_public_url_is_this_servers_origin_too(
    make_collector: Callable[..., Collector],
) -> None:
    collector = make_collector(public_url="https://cdp.example.com")
    assert collector.login(Origin="https://cdp.example.com").status_code == 303
    assert collector.login(Origin=collector.origin).status_code == 303
    assert collector.login(Origin="https://other.example.com").status_code == 403


def test_behind_a_trusted_proxy_the_forwarded_host_and_scheme_make_the_origin(
    make_collector: Callable[..., Collector],
) -> None:
    proxied = {
        "Origin": "https://cdp.example.com",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "cdp.example.com",
    }
    trusted = make_collector(trusted_proxies=("127.0.0.1",))
    assert trusted.login(**proxied).status_code == 303
    untrusted = make_collector()
    refused = untrusted.login(**proxied)
    assert refused.status_code == 403
    assert f"({untrusted.origin})" in refused.json()["message"]


def test_a_cookie_authenticated_change_from_another_site_is_refused_but_bearer_is_left_be(
    collector: Collector,
) -> None:
    session = collector.session()
    for method in ("POST", "DELETE"):
        refused = collector.http.request(
            method, "/api/things", headers=cookie(session, Origin=EVIL)
        )
        assert refused.status_code == 403
        same = collector.http.request(
            method, "/api/things", headers=cookie(session, Origin=collector.origin)
        )
        assert same.json() == {"changed": True}
    bearer = {
        "Authorization": f"Bearer {ADMIN_TOKEN}",
        "Origin": EVIL,
        "Sec-Fetch-Site": "cross-site",
    }
    assert collector.http.post("/api/things", headers=bearer).json() == {"changed": True}
