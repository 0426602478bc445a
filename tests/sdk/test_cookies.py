"""Cookie values in the browser source's encodings, and Set-Cookie headers for ids."""

from __future__ import annotations

import http.cookies
from datetime import UTC, datetime

import pytest

from audience.errors import ValidationError
from audience.sdk import decode_cookie_value, encode_cookie_value, render_set_cookie


def test_a_string_id_is_written_raw_as_the_browser_source_writes_it() -> None:
    assert encode_cookie_value("22a7d8e1-a2d7-4f92-8f48-e54fb27468ed") == (
        "22a7d8e1-a2d7-4f92-8f48-e54fb27468ed"
    )
    assert encode_cookie_value('a+b c@x.com/ü"&;=,%#$') == "a+b%20c@x.com/%C3%BC%22&%3B=%2C%25#$"


def test_an_object_is_written_as_url_encoded_json() -> None:
    assert encode_cookie_value({"id": "123"}) == "{%22id%22:%22123%22}"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("39ee7ea5-b6d8-4174-b612-04e1ef3fa952", "39ee7ea5-b6d8-4174-b612-04e1ef3fa952"),
        ("%2239ee7ea5-b6d8-4174-b612-04e1ef3fa952%22", "39ee7ea5-b6d8-4174-b612-04e1ef3fa952"),
        ("%2239ee7ea5-b6d8-4174-b612-04e1ef3fa952", "39ee7ea5-b6d8-4174-b612-04e1ef3fa952"),
        ('"quoted-user"', "quoted-user"),
        ("a+b%20c@x.com/%C3%BC%22&%3B=%2C%25#$", 'a+b c@x.com/ü"&;=,%#$'),
        ("12345", 12345),
        ("", None),
    ],
)
def test_a_cookie_is_read_in_the_raw_the_json_and_the_classic_form(
    text: str, value: object
) -> None:
    assert decode_cookie_value(text) == value


def test_a_plus_in_a_cookie_stays_a_plus() -> None:
    assert decode_cookie_value("a+b") == "a+b"


def test_set_cookie_carries_the_browser_sources_attributes() -> None:
    header = render_set_cookie(
        "ajs_anonymous_id",
        "ABC-123-XYZ",
        domain="example.com",
        now=datetime(2026, 11, 29, 12, 0, tzinfo=UTC),
    )
    assert header == (
        "ajs_anonymous_id=ABC-123-XYZ; Domain=example.com; Path=/; "
        "Expires=Mon, 29 Nov 2027 12:00:00 GMT; Max-Age=31536000; SameSite=Lax"
    )
    parsed = http.cookies.SimpleCookie(header)["ajs_anonymous_id"]
    assert parsed.value == "ABC-123-XYZ"
    assert parsed["path"] == "/"
    assert parsed["samesite"] == "Lax"


def test_set_cookie_without_a_domain_is_host_only_and_none_deletes() -> None:
    assert render_set_cookie("ajs_user_id", None) == "ajs_user_id=; Path=/; Max-Age=0; SameSite=Lax"


def test_set_cookie_refuses_a_name_that_would_break_the_header() -> None:
    with pytest.raises(ValidationError) as error:
        render_set_cookie("bad; name", "x")
    assert error.value.field == "name"
