"""Many people in one process: explicit senders that share the client's delivery."""

from __future__ import annotations

import pytest

from audience.errors import ValidationError
from audience.sdk import MemoryStore, RequestCookieStore

from .conftest import Recording, sent


def test_for_user_sends_for_that_person_without_touching_the_stored_identity(
    recording: Recording,
) -> None:
    analytics, transport = recording()
    own = analytics.user().anonymous_id()
    analytics.for_user(user_id="buyer_1").track("Order Paid", {"total": 10})
    analytics.for_user(user_id="buyer_2").track("Order Paid", {"total": 20})
    first, second = sent(analytics, transport)
    assert (first["userId"], first["anonymousId"]) == ("buyer_1", None)
    assert (second["userId"], second["anonymousId"]) == ("buyer_2", None)
    assert analytics.user().anonymous_id() == own
    assert analytics.user().id() is None


def test_for_user_with_an_anonymous_id_sends_it(recording: Recording) -> None:
    analytics, transport = recording()
    visitor = analytics.for_user(anonymous_id="anon-42")
    visitor.page("Pricing")
    visitor.identify("user_42", {"email": "x@example.com"})
    page, identify = sent(analytics, transport)
    assert page["anonymousId"] == identify["anonymousId"] == "anon-42"
    assert identify["userId"] == "user_42"


def test_for_user_needs_a_user_id_or_an_anonymous_id(recording: Recording) -> None:
    analytics, _ = recording()
    with pytest.raises(ValidationError) as error:
        analytics.for_user()
    assert error.value.field == "user_id"


def test_for_store_applies_the_identity_rules_to_any_store(recording: Recording) -> None:
    analytics, transport = recording()
    cookies = MemoryStore({"ajs_anonymous_id": "from-the-browser"})
    request = analytics.for_store(cookies)
    request.track("Server Side")
    request.identify("user_1")
    request.identify("user_2")
    server_side, first, second = sent(analytics, transport)
    assert server_side["anonymousId"] == first["anonymousId"] == "from-the-browser"
    assert second["anonymousId"] != "from-the-browser"
    assert cookies.get("ajs_user_id") == "user_2"


def test_a_requests_cookies_carry_the_browsers_anonymous_id_to_server_side_events(
    recording: Recording,
) -> None:
    analytics, transport = recording()
    cookies = RequestCookieStore(
        {"ajs_anonymous_id": "%2239ee7ea5-b6d8-4174-b612-04e1ef3fa952%22"}, domain="example.com"
    )
    visitor = analytics.for_store(cookies, MemoryStore())
    visitor.track("Signed Up")
    visitor.identify("user_123")
    track, identify = sent(analytics, transport)
    assert track["anonymousId"] == identify["anonymousId"] == "39ee7ea5-b6d8-4174-b612-04e1ef3fa952"
    assert cookies.set_cookie_headers() == [
        "ajs_user_id=user_123; Domain=example.com; Path=/; Max-Age=31536000; SameSite=Lax"
    ]


def test_a_request_without_cookies_gets_a_new_anonymous_id_cookie(recording: Recording) -> None:
    analytics, transport = recording()
    cookies = RequestCookieStore({})
    analytics.for_store(cookies, MemoryStore()).page("Landing")
    (page,) = sent(analytics, transport)
    (header,) = cookies.set_cookie_headers()
    assert header.startswith(f"ajs_anonymous_id={page['anonymousId']}; Path=/;")


def test_reset_in_a_request_expires_the_identity_cookies(recording: Recording) -> None:
    analytics, _ = recording()
    cookies = RequestCookieStore({"ajs_anonymous_id": "a1", "ajs_user_id": "u1"})
    analytics.for_store(cookies, MemoryStore()).reset()
    assert sorted(cookies.set_cookie_headers()) == [
        "ajs_anonymous_id=; Path=/; Max-Age=0; SameSite=Lax",
        "ajs_user_id=; Path=/; Max-Age=0; SameSite=Lax",
    ]
