"""Wrong admin tokens slow down the address that sends them, and only that address."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from collector_support import ADMIN_TOKEN

from audience.http.login_throttle import (
    FORGET_AFTER_SECONDS,
    FREE_FAILURES,
    MAX_LOCK_SECONDS,
    LoginThrottle,
    lock_seconds,
    throttle_key,
)
from audience.testing import FakeClock
from support import AudienceServer

GUESSER = "198.51.100.7"
ADMIN = "203.0.113.9"


def fail(throttle: LoginThrottle, address: str, times: int) -> list[int]:
    return [throttle.failed(address) for _ in range(times)]


def test_five_wrong_tokens_are_free_and_the_sixth_waits_five_seconds() -> None:
    """The rule's start: five free failures, then a five-second lock."""
    clock = FakeClock()
    throttle = LoginThrottle(clock)
    assert fail(throttle, GUESSER, FREE_FAILURES - 1) == [0, 0, 0, 0]
    assert throttle.wait_seconds(GUESSER) == 0
    assert throttle.failed(GUESSER) == 5
    assert throttle.wait_seconds(GUESSER) == 5
    clock.advance(4.5)
    assert throttle.wait_seconds(GUESSER) == 1
    clock.advance(0.5)
    assert throttle.wait_seconds(GUESSER) == 0


def test_the_lock_doubles_with_each_further_failure_up_to_ten_minutes() -> None:
    assert [lock_seconds(n) for n in range(1, 11)] == [0, 0, 0, 0, 5, 10, 20, 40, 80, 160]
    assert lock_seconds(12) == MAX_LOCK_SECONDS == 600
    assert lock_seconds(10_000) == MAX_LOCK_SECONDS


def test_another_address_is_never_slowed_by_the_guesser() -> None:
    throttle = LoginThrottle(FakeClock())
    fail(throttle, GUESSER, 20)
    assert throttle.wait_seconds(GUESSER) == 600
    assert throttle.wait_seconds(ADMIN) == 0


def test_a_right_token_clears_the_address_record() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(clock)
    fail(throttle, ADMIN, 4)
    throttle.succeeded(ADMIN)
    assert fail(throttle, ADMIN, 4) == [0, 0, 0, 0]


def test_failures_are_forgotten_after_fifteen_quiet_minutes() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(clock)
    fail(throttle, GUESSER, 6)
    clock.advance(FORGET_AFTER_SECONDS)
    assert throttle.failed(GUESSER) == 0


def test_an_ipv6_host_is_throttled_by_the_64_it_was_given() -> None:
    """One host is handed a whole /64: rotating through it must not reset the count."""
    throttle = LoginThrottle(FakeClock())
    for suffix in range(1, 6):
        throttle.failed(f"2001:db8:1:2::{suffix}")
    assert throttle.wait_seconds("2001:db8:1:2:ffff::1") == 5
    assert throttle.wait_seconds("2001:db8:1:3::1") == 0
    assert throttle_key("::ffff:198.51.100.7") == GUESSER
    assert throttle_key(None) == "unknown"


def test_at_most_max_tracked_addresses_are_remembered_the_quietest_forgotten_first() -> None:
    throttle = LoginThrottle(FakeClock(), max_tracked=3)
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"):
        fail(throttle, address, 5)
    assert throttle.wait_seconds("10.0.0.1") == 0
    assert [throttle.wait_seconds(f"10.0.0.{n}") for n in (2, 3, 4)] == [5, 5, 5]


def login(client: httpx.Client, token: str, **headers: str) -> httpx.Response:
    return client.post("/login", data={"token": token, "next": "/profiles"}, headers=headers)


@pytest.fixture
def serve(tmp_path: Path) -> AudienceServer:
    return AudienceServer(tmp_path / "data", tmp_path / "serve.log", admin_token=ADMIN_TOKEN)


def test_the_sixth_wrong_guess_from_one_address_is_refused_while_another_address_logs_in(
    serve: AudienceServer,
) -> None:
    serve.start()
    guesser = httpx.Client(
        base_url=serve.url, transport=httpx.HTTPTransport(local_address="127.0.0.1")
    )
    admin = httpx.Client(
        base_url=serve.url, transport=httpx.HTTPTransport(local_address="127.0.0.2")
    )
    try:
        for guess in range(5):
            assert login(guesser, f"wrong-guess-{guess}").status_code == 401
        refused = login(guesser, "wrong-guess-5")
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "5"
        assert "try again in 5 s" in refused.text
        assert login(guesser, ADMIN_TOKEN).status_code == 429, "a lock is not lifted by guessing"
        wrong_bearer = guesser.get("/api/stats", headers={"Authorization": "Bearer wrong"})
        assert wrong_bearer.status_code == 429
        assert admin.get("/api/stats", headers={"Authorization": "Bearer wrong"}).status_code == 401
        logged_in = login(admin, ADMIN_TOKEN)
        assert logged_in.status_code == 303
        assert admin.get("/api/stats").status_code == 200
    finally:
        guesser.close()
        admin.close()
        serve.stop()


def test_behind_a_trusted_proxy_each_forwarded_address_is_throttled_on_its_own(
    tmp_path: Path,
) -> None:
    serve = AudienceServer(
        tmp_path / "data",
        tmp_path / "serve.log",
        admin_token=ADMIN_TOKEN,
        extra_args=("--trusted-proxy", "127.0.0.1"),
    )
    serve.start()
    try:
        with httpx.Client(base_url=serve.url) as proxy:
            wrong = {"Authorization": "Bearer wrong", "X-Forwarded-For": GUESSER}
            for _ in range(5):
                assert proxy.get("/api/stats", headers=wrong).status_code == 401
            assert proxy.get("/api/stats", headers=wrong).status_code == 429
            assert login(proxy, ADMIN_TOKEN, **{"X-Forwarded-For": GUESSER}).status_code == 429
            assert login(proxy, ADMIN_TOKEN, **{"X-Forwarded-For": ADMIN}).status_code == 303
    finally:
        serve.stop()
