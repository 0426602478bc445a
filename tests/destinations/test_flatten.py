from __future__ import annotations

from datetime import UTC, datetime

import pytest

from audience.destinations.flatten import (
    DISCARD,
    ColumnType,
    cast,
    column_name,
    flatten,
    free_name,
    infer_type,
)


@pytest.mark.parametrize(
    ("key", "column"),
    [
        ("plan_id", "plan_id"),
        ("emailCampaign", "email_campaign"),
        ("Plan ID", "plan_id"),
        ("HTMLParser", "html_parser"),
        ("Order Completed", "order_completed"),
        ("$browser", "browser"),
        ("2fa enabled", "_2fa_enabled"),
        ("", "_"),
        ("a" * 80, "a" * 63),
    ],
)
def test_keys_become_snake_case_column_names(key: str, column: str) -> None:
    assert column_name(key) == column


def test_nested_objects_flatten_with_underscores_under_their_prefix() -> None:
    context = {"app": {"version": "1.2"}, "traits": {"plan_id": "Paid, Tier 2"}, "ip": "1.2.3.4"}
    assert flatten(context, "context") == {
        "context_app_version": "1.2",
        "context_traits_plan_id": "Paid, Tier 2",
        "context_ip": "1.2.3.4",
    }


def test_arrays_are_stored_as_json_text_and_nulls_are_left_out() -> None:
    assert flatten({"tags": ["a", 1], "gone": None}) == {"tags": '["a",1]'}


def test_a_reserved_column_name_gets_an_underscore_instead_of_being_dropped() -> None:
    """A trait named user_id must not overwrite the event's user_id."""
    assert flatten({"user_id": "x", "id": 3}, taken={"user_id", "id"}) == {
        "_user_id": "x",
        "_id": 3,
    }


def test_two_keys_that_flatten_to_one_name_both_keep_their_values() -> None:
    assert flatten({"a_b": 1, "a": {"b": 2}}) == {"a_b": 1, "_a_b": 2}


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (True, ColumnType.BOOLEAN),
        (3, ColumnType.INTEGER),
        (2**70, ColumnType.STRING),
        (2.5, ColumnType.FLOAT),
        ("2026-11-29T12:00:00.000Z", ColumnType.TIMESTAMP),
        ("2026-11-29 12:00:00+01:00", ColumnType.TIMESTAMP),
        ("2026-11-29", ColumnType.STRING),
        ("hello", ColumnType.STRING),
    ],
)
def test_a_column_takes_its_type_from_the_first_value(value: object, kind: ColumnType) -> None:
    assert infer_type(value) is kind


def test_later_values_are_cast_to_the_column_type_or_discarded() -> None:
    assert cast(3, ColumnType.FLOAT) == 3.0
    assert cast(4.0, ColumnType.INTEGER) == 4
    assert cast(4.5, ColumnType.INTEGER) is DISCARD
    assert cast("four", ColumnType.INTEGER) is DISCARD
    assert cast(True, ColumnType.INTEGER) is DISCARD
    assert cast(12, ColumnType.STRING) == "12"
    assert cast(False, ColumnType.STRING) == "false"
    assert cast("2026-11-29T12:00:00Z", ColumnType.TIMESTAMP) == datetime(
        2026, 11, 29, 12, tzinfo=UTC
    )
    assert cast("not a time", ColumnType.TIMESTAMP) is DISCARD


def test_a_colliding_name_at_the_length_limit_gets_a_number() -> None:
    long = "a" * 63
    assert free_name(long, {long}) == "a" * 61 + "_2"
    assert free_name("_", {"_", "__"}) == "___"
