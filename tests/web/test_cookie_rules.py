"""The rules behind the identity cookies: their domain, their attributes, how a request's are read
and what a response sets."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from audience import Analytics
from audience.errors import ConfigError
from audience.sdk.testing import RecordingTransport
from audience.web import (
    CookieSettings,
    Visitor,
    Visitors,
    read_identity_cookies,
    registrable_domain,
)


@pytest.fixture
def analytics() -> Iterator[Analytics]:
    with Analytics("wk_web", storage="memory", transport=RecordingTransport()) as client:
        yield client


@pytest.mark.parametrize(
    ("host", "domain"),
    [
        ("www.example.com", "example.com"),
        ("example.com", "example.com"),
        ("shop.example.com:8443", "example.com"),
        ("a.b.example.co.uk", "example.co.uk"),
        ("WWW.Example.COM.", "example.com"),
        ("myapp.herokuapp.com", "myapp.herokuapp.com"),
    ],
)
def test_cookies_are_shared_over_the_registrable_domain_of_the_host(host: str, domain: str) -> None:
    assert registrable_domain(host) == domain


@pytest.mark.parametrize(
    "host", ["localhost", "localhost:8000", "127.0.0.1:5000", "[::1]:8000", "::1", "co.uk", ""]
)
def test_localhost_ip_addresses_and_public_suffixes_get_host_only_cookies(host: str) -> None:
    assert registrable_domain(host) is None


def test_a_fixed_domain_is_used_only_for_hosts_inside_it() -> None:
    settings = CookieSettings(domain="example.com")

    assert settings.domain_for("shop.example.com") == "example.com"
    assert settings.domain_for("example.com:80") == "example.com"
    assert settings.domain_for("localhost:8000") is None
    assert settings.domain_for("badexample.com") is None
    assert CookieSettings(domain=None).domain_for("www.example.com") is None


def test_cookie_settings_refuse_what_a_browser_would_not_take() -> None:
    with pytest.raises(ConfigError):
        CookieSettings(same_site="lax")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        CookieSettings(max_age=timedelta(0))
    with pytest.raises(ConfigError):
        CookieSettings(path="shop")


def test_identity_cookies_are_read_raw_and_in_the_classic_quoted_form() -> None:
    header = (
        "session=abc; ajs_anonymous_id=%22classic-anon%22; "
        'ajs_user_id=a+b%20c@x.com/%C3%BC%22&%3B=%2C%25#$; ajs_group_id="quoted"'
    )
    cookies = read_identity_cookies([header, "ajs_anonymous_id=later"])

    assert cookies == {
        "ajs_anonymous_id": "%22classic-anon%22",
        "ajs_user_id": "a+b%20c@x.com/%C3%BC%22&%3B=%2C%25#$",
        "ajs_group_id": '"quoted"',
    }


def test_a_visitor_reads_every_encoding_as_the_browser_source_does(analytics: Analytics) -> None:
    cookies = {
        "ajs_anonymous_id": "%22classic-anon%22",
        "ajs_user_id": "a+b%20c@x.com/%C3%BC%22&%3B=%2C%25#$",
        "ajs_group_id": '"quoted"',
    }
    visitor = Visitor(analytics, cookies, host="localhost", settings=CookieSettings())

    assert visitor.user().anonymous_id() == "classic-anon"
    assert visitor.user().id() == 'a+b c@x.com/ü"&;=,%#$'
    assert visitor.group().id() == "quoted"


def test_a_first_visit_gets_a_new_anonymous_id_cookie_with_the_browser_sources_attributes(
    analytics: Analytics,
) -> None:
    visitor = Visitor(analytics, {}, host="www.example.com", settings=CookieSettings())

    [header] = visitor.set_cookie_headers()

    anonymous = visitor.user().anonymous_id()
    assert header == (
        f"ajs_anonymous_id={anonymous}; Domain=example.com; Path=/; Max-Age=31536000; SameSite=Lax"
    )


def test_cookies_the_request_carried_are_refreshed_in_the_raw_form(analytics: Analytics) -> None:
    cookies = {"ajs_anonymous_id": "%22anon-1%22", "ajs_user_id": "user-1"}
    visitor = Visitor(analytics, cookies, host="localhost:8000", settings=CookieSettings())

    assert visitor.set_cookie_headers() == [
        "ajs_anonymous_id=anon-1; Path=/; Max-Age=31536000; SameSite=Lax",
        "ajs_user_id=user-1; Path=/; Max-Age=31536000; SameSite=Lax",
    ]


def test_configured_attributes_are_applied(analytics: Analytics) -> None:
    settings = CookieSettings(
        domain="example.com", max_age=timedelta(days=7), path="/shop", same_site="None"
    )
    visitor = Visitor(
        analytics, {"ajs_anonymous_id": "anon-1"}, host="a.example.com", settings=settings
    )

    assert visitor.set_cookie_headers() == [
        "ajs_anonymous_id=anon-1; Domain=example.com; Path=/shop; Max-Age=604800; "
        "SameSite=None; Secure"
    ]


def test_reset_deletes_the_identity_cookies_with_the_same_attributes_and_mints_nothing(
    analytics: Analytics,
) -> None:
    cookies = {"ajs_anonymous_id": "anon-1", "ajs_user_id": "user-1", "ajs_group_id": "g-1"}
    visitor = Visitor(analytics, cookies, host="shop.example.com", settings=CookieSettings())

    visitor.reset()

    assert visitor.set_cookie_headers() == [
        f"{name}=; Domain=example.com; Path=/; Max-Age=0; SameSite=Lax"
        for name in ("ajs_user_id", "ajs_anonymous_id", "ajs_group_id")
    ]


def test_an_event_after_reset_sets_a_new_anonymous_id(analytics: Analytics) -> None:
    cookies = {"ajs_anonymous_id": "anon-1", "ajs_user_id": "user-1"}
    visitor = Visitor(analytics, cookies, host="localhost", settings=CookieSettings())

    visitor.reset()
    visitor.track("Signed Out")

    fresh = visitor.user().anonymous_id()
    assert fresh not in (None, "anon-1")
    assert (
        sorted(visitor.set_cookie_headers())
        == [
            f"ajs_anonymous_id={fresh}; Path=/; Max-Age=31536000; SameSite=Lax",
            "ajs_group_id=; Path=/; Max-Age=0; SameSite=Lax",
            "ajs_user_id=; Path=/; Max-Age=0; SameSite=Lax",
        ]
        or visitor.set_cookie_headers()
    )


def test_a_visitor_sends_through_the_shared_pipeline_with_the_cookie_ids() -> None:
    transport = RecordingTransport()
    with Analytics("wk_web", storage="memory", transport=transport) as analytics:
        visitors = Visitors(analytics=analytics)
        visitor = visitors.for_request(["ajs_anonymous_id=anon-1"], "localhost")
        visitor.identify("user-1", {"plan": "pro"})
        visitor.track("Order Completed", {"total": 25})
        assert visitor.flush(timeout=10)

    identify, track = transport.messages
    assert (identify["anonymousId"], identify["userId"]) == ("anon-1", "user-1")
    assert (track["anonymousId"], track["userId"]) == ("anon-1", "user-1")
    assert visitor.user().traits() == {"plan": "pro"}


def test_the_middleware_takes_a_write_key_or_a_client_but_not_both(analytics: Analytics) -> None:
    with pytest.raises(ConfigError):
        Visitors()
    with pytest.raises(ConfigError):
        Visitors(write_key="wk_web", analytics=analytics)


def test_a_repeated_identity_cookie_gets_its_host_only_copy_deleted(analytics: Analytics) -> None:
    header = "ajs_anonymous_id=host-only-anon; ajs_anonymous_id=domain-anon; ajs_user_id=u-1"
    visitors = Visitors(analytics=analytics)

    on_a_domain = visitors.for_request([header], "shop.example.com")
    on_localhost = visitors.for_request([header], "localhost")

    assert on_a_domain.set_cookie_headers() == [
        "ajs_anonymous_id=; Path=/; Max-Age=0; SameSite=Lax",
        "ajs_anonymous_id=host-only-anon; Domain=example.com; Path=/; Max-Age=31536000; "
        "SameSite=Lax",
        "ajs_user_id=u-1; Domain=example.com; Path=/; Max-Age=31536000; SameSite=Lax",
    ]
    assert on_localhost.set_cookie_headers() == [
        "ajs_anonymous_id=host-only-anon; Path=/; Max-Age=31536000; SameSite=Lax",
        "ajs_user_id=u-1; Path=/; Max-Age=31536000; SameSite=Lax",
    ]
