from __future__ import annotations

import pytest

from audience.identity.identifiers import clean_email, clean_id, is_junk


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "null",
        "NULL",
        "undefined",
        "None",
        "none",
        "NaN",
        "nil",
        "true",
        "False",
        "0",
        "000",
        "-1",
        "anonymous",
        "Anonymous",
        "anonymousId",
        "guest",
        "[object Object]",
        "00000000-0000-0000-0000-000000000000",
        '"null"',
        "'undefined'",
        '""',
        "'0'",
        " null ",
    ],
)
def test_placeholder_values_are_junk(value: str) -> None:
    assert is_junk(value)


@pytest.mark.parametrize(
    "value",
    ["user_123", "67cf822e-2956-4838-a767-1ca4fc4861f4", "ABC-123-XYZ", "10", "nullable", "0x1"],
)
def test_real_ids_are_not_junk(value: str) -> None:
    assert not is_junk(value)


def test_numbers_become_their_decimal_text_and_bools_are_no_id() -> None:
    assert clean_id(42) == "42"
    assert clean_id(42.0) == "42"
    assert clean_id(True) is None
    assert clean_id(None) is None
    assert clean_id({"id": 1}) is None
    assert clean_id("  user_1 ") == "user_1"


def test_emails_are_lower_cased_and_must_look_like_emails() -> None:
    assert clean_email(" Jane@Example.COM ") == "jane@example.com"
    assert clean_email("not-an-email") is None
    assert clean_email("@example.com") is None
    assert clean_email("null") is None
