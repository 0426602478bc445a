"""Admin sessions: one per login, ended by logout, expired by the clock, Secure over https."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from collector_support import ADMIN_TOKEN
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from audience.collector.app import build_parts, create_app
from audience.config import Settings
from audience.http.admin_guard import SESSION_COOKIE
from audience.http.admin_sessions import IDLE_SECONDS, LIFETIME_SECONDS
from audience.pages.login import login_page
from audience.storage.sqlite_events import SqliteEventStore
from audience.testing import CountingIds, FakeClock
from support import LiveServer

HOUR = 3600.0


class Collector:
    """A collector on loopback over a SQLite store, with a clock the test moves."""

    def __init__(self, store: SqliteEventStore, clock: FakeClock, settings: Settings) -> None:
        self.store = store
        self.clock = clock
        parts = build_parts(
            settings,
            store,
            admin_token=ADMIN_TOKEN,
            login_page=login_page,
            clock=clock,
            ids=CountingIds(),
        )

        async def page(request: Request) -> Response:
            return PlainTextResponse("the admin's page")

        self.server = LiveServer(
            create_app(parts, routes=[Route("/page", parts.guard.protect_page(page))])
        )
        self.server.start()
        self.http = httpx.Client(base_url=self.server.url, timeout=30)

    def login(self, **headers: str) -> httpx.Response:
        response = self.http.post("/login", data={"token": ADMIN_TOKEN}, headers=headers)
        assert response.status_code == 303, response.text
        self.http.cookies.clear()  # each request names the session it uses
        return response

    def session(self) -> str:
        return self.login().cookies[SESSION_COOKIE]

    def stats(self, session: str) -> int:
        """The status of ``/api/stats`` with only this session cookie."""
        cookie = {"Cookie": f"{SESSION_COOKIE}={session}"}
        return self.http.get("/api/stats", headers=cookie).status_code

    def close(self) -> None:
        self.http.close()
        self.server.stop()


@pytest.fixture
def make_collector(tmp_path: Path) -> Iterator[Callable[..., Collector]]:
    opened: list[Collector] = []
    store = SqliteEventStore.open(tmp_path / "events.sqlite3", synchronous="normal")

    def make(**settings: Any) -> Collector:
        collector = Collector(store, FakeClock(), replace(Settings(data_dir=tmp_path), **settings))
        opened.append(collector)
        return collector

    yield make
    for collector in opened:
        collector.close()
    store.close()


@pytest.fixture
def collector(make_collector: Callable[..., Collector]) -> Collector:
    return make_collector()


def session_rows(collector: Collector) -> list[tuple[Any, ...]]:
    with sqlite3.connect(collector.store.path) as connection:
        return connection.execute("SELECT * FROM admin_sessions").fetchall()


def test_each_login_gets_a_new_session_id(collector: Collector) -> None:
    first, second = collector.session(), collector.session()
    assert first != second
    assert len(first) >= 43
    assert collector.stats(first) == 200
    assert collector.stats(second) == 200


def test_after_logout_the_old_session_cookie_is_refused(collector: Collector) -> None:
    session = collector.session()
    other = collector.session()
    cookie = {"Cookie": f"{SESSION_COOKIE}={session}"}
    out = collector.http.post("/logout", headers=cookie)
    assert out.status_code == 303
    assert out.headers["location"] == "/login"
    assert 'audience_admin=""' in out.headers["set-cookie"]
    assert collector.stats(session) == 401
    page = collector.http.get("/page", headers=cookie)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=/page"
    assert collector.stats(other) == 200, "logging out ends that session only"


def test_the_store_keeps_only_a_hash_of_each_session_id(collector: Collector) -> None:
    session = collector.session()
    [(id_hash, created_at, last_seen_at)] = session_rows(collector)
    assert id_hash == hashlib.sha256(session.encode()).hexdigest()
    assert session not in repr(session_rows(collector))
    assert created_at == last_seen_at == collector.clock.now().timestamp()


def test_a_session_used_within_twelve_hours_stays_and_an_idle_one_expires(
    collector: Collector,
) -> None:
    """The idle expiry: 12 hours without a request."""
    assert IDLE_SECONDS == 12 * HOUR
    session = collector.session()
    for _ in range(3):
        collector.clock.advance(IDLE_SECONDS - 60)
        assert collector.stats(session) == 200
    collector.clock.advance(IDLE_SECONDS)
    assert collector.stats(session) == 401
    assert session_rows(collector) == [], "a session found expired is deleted"


def test_a_session_ends_seven_days_after_login_however_busy(collector: Collector) -> None:
    """The absolute expiry: 7 days after the login."""
    assert LIFETIME_SECONDS == 7 * 24 * HOUR
    session = collector.session()
    for _ in range(27):
        collector.clock.advance(6 * HOUR)
        assert collector.stats(session) == 200
    collector.clock.advance(6 * HOUR)
    assert collector.stats(session) == 401


def test_expired_sessions_are_purged_at_the_next_login(collector: Collector) -> None:
    collector.session()
    collector.session()
    collector.clock.advance(IDLE_SECONDS + 1)
    fresh = collector.session()
    [(id_hash, _, _)] = session_rows(collector)
    assert id_hash == hashlib.sha256(fresh.encode()).hexdigest()


def test_logging_in_again_ends_the_session_the_browser_had(collector: Collector) -> None:
    old = collector.session()
    collector.login(Cookie=f"{SESSION_COOKIE}={old}")
    assert collector.stats(old) == 401


@pytest.mark.parametrize("cookie", ["", "forged", "x" * 5000, '"quoted"'])
def test_a_forged_session_cookie_is_refused(collector: Collector, cookie: str) -> None:
    assert collector.stats(cookie) == 401


def test_the_login_form_sends_a_logged_in_admin_on(collector: Collector) -> None:
    session = collector.session()
    answer = collector.http.get(
        "/login?next=/page", headers={"Cookie": f"{SESSION_COOKIE}={session}"}
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/page"
    assert collector.http.get("/login").status_code == 200


def cookie_attributes(response: httpx.Response) -> set[str]:
    return {part.strip().lower() for part in response.headers["set-cookie"].split(";")}


def test_the_cookie_is_http_only_strict_and_lives_as_long_as_the_session(
    collector: Collector,
) -> None:
    attributes = cookie_attributes(collector.login())
    assert {"httponly", "samesite=strict", "path=/", f"max-age={int(LIFETIME_SECONDS)}"} <= (
        attributes
    )
    assert "secure" not in attributes


def test_the_cookie_is_secure_behind_a_trusted_proxy_that_says_https(
    make_collector: Callable[..., Collector],
) -> None:
    trusted = make_collector(trusted_proxies=("127.0.0.1",))
    assert "secure" in cookie_attributes(trusted.login(**{"X-Forwarded-Proto": "https"}))
    assert "secure" not in cookie_attributes(trusted.login(**{"X-Forwarded-Proto": "http"}))
    untrusted = make_collector()
    assert "secure" not in cookie_attributes(untrusted.login(**{"X-Forwarded-Proto": "https"}))


def test_the_cookie_is_secure_when_the_public_url_is_https(
    make_collector: Callable[..., Collector],
) -> None:
    collector = make_collector(public_url="https://cdp.example.com")
    assert "secure" in cookie_attributes(collector.login())
    plain = make_collector(public_url="http://cdp.internal")
    assert "secure" not in cookie_attributes(plain.login())
