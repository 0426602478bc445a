"""The timestamp parser's specification: the forms ISO 8601 and RFC 3339 allow, and refusals."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from audience.errors import ValidationError
from audience.timestamps import (
    EARLIEST,
    EARLIEST_INSTANT,
    LATEST,
    LATEST_INSTANT,
    clamp,
    datetime_of,
    format_instant,
    instant_of,
    is_representable,
    parse_instant,
    weeks_in_year,
)
from audience.tracking import format_timestamp, parse_timestamp

ACCEPTED: list[tuple[str, str]] = [
    # what the clients send
    ("2026-11-29T18:55:54.106Z", "2026-11-29T18:55:54.106Z"),
    ("2026-11-29T18:56:28.395+00:00", "2026-11-29T18:56:28.395Z"),
    ("2026-11-29T20:56:28.895575+02:00", "2026-11-29T18:56:28.895Z"),
    ("2026-11-29T18:56:28", "2026-11-29T18:56:28.000Z"),
    ("2026-11-29 18:56:28.123456", "2026-11-29T18:56:28.123Z"),
    ("  2026-11-29T18:56:28Z\n", "2026-11-29T18:56:28.000Z"),
    # fractions: any length, '.' or ',', truncated to the microsecond then the millisecond
    ("2026-11-29T18:55:54.1Z", "2026-11-29T18:55:54.100Z"),
    ("2026-11-29T18:55:54,106Z", "2026-11-29T18:55:54.106Z"),
    ("2026-11-29T18:55:54.123456789Z", "2026-11-29T18:55:54.123Z"),
    ("2026-11-29T18:55:54.9999999999999999999999Z", "2026-11-29T18:55:54.999Z"),
    # reduced precision and fractions of hours and minutes
    ("2026-11-29T18:55Z", "2026-11-29T18:55:00.000Z"),
    ("2026-11-29T18Z", "2026-11-29T18:00:00.000Z"),
    ("2026-11-29T18,5Z", "2026-11-29T18:30:00.000Z"),
    ("2026-11-29T18:30.5Z", "2026-11-29T18:30:30.000Z"),
    ("2026-11-29", "2026-11-29T00:00:00.000Z"),
    ("2026-11", "2026-11-01T00:00:00.000Z"),
    ("2026", "2026-01-01T00:00:00.000Z"),
    # basic format
    ("20261129T185554Z", "2026-11-29T18:55:54.000Z"),
    ("20261129T185554.106+0100", "2026-11-29T17:55:54.106Z"),
    ("20261129T1855", "2026-11-29T18:55:00.000Z"),
    ("20261129", "2026-11-29T00:00:00.000Z"),
    # lower case, RFC 3339
    ("2026-11-29t18:55:54.106z", "2026-11-29T18:55:54.106Z"),
    # offsets
    ("2026-11-29T18:55:54+01", "2026-11-29T17:55:54.000Z"),
    ("2026-11-29T18:55:54+0130", "2026-11-29T17:25:54.000Z"),
    ("2026-11-29T18:55:54-05:00", "2026-11-29T23:55:54.000Z"),
    ("2026-11-29T18:55:54-00:00", "2026-11-29T18:55:54.000Z"),
    ("2026-11-29T18:55:54+23:59", "2026-11-28T18:56:54.000Z"),
    ("2026\u221211\u221229T18:55:54\u221205:00", "2026-11-29T23:55:54.000Z"),
    # ordinal and week dates
    ("2026-333", "2026-11-29T00:00:00.000Z"),
    ("2026333T185554Z", "2026-11-29T18:55:54.000Z"),
    ("2024-366", "2024-12-31T00:00:00.000Z"),
    ("2026-W48-7T18:55:54Z", "2026-11-29T18:55:54.000Z"),
    ("2026W487", "2026-11-29T00:00:00.000Z"),
    ("2026-W48", "2026-11-23T00:00:00.000Z"),
    ("2026-W01-1", "2025-12-29T00:00:00.000Z"),
    ("2026-W53-7", "2027-01-03T00:00:00.000Z"),
    # the end of a day and leap seconds
    ("2026-11-29T24:00:00Z", "2026-11-30T00:00:00.000Z"),
    ("2026-12-31T24:00Z", "2027-01-01T00:00:00.000Z"),
    ("2016-12-31T23:59:60Z", "2016-12-31T23:59:59.999Z"),
    ("2016-12-31T23:59:60.5Z", "2016-12-31T23:59:59.999Z"),
    ("2017-01-01T00:59:60+01:00", "2016-12-31T23:59:59.999Z"),
    ("2015-06-30T15:59:60-08:00", "2015-06-30T23:59:59.999Z"),
    # the ends of the range, and past them (stored as the nearest end)
    ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000Z"),
    ("9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999Z"),
    ("0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00.000Z"),
    ("9999-12-31T23:59:59-01:00", "9999-12-31T23:59:59.999Z"),
    ("9999-12-31T24:00:00Z", "9999-12-31T23:59:59.999Z"),
    ("0000-01-01", "0001-01-01T00:00:00.000Z"),
    ("+010000-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z"),
    ("+275760-09-13T00:00:00.000Z", "9999-12-31T23:59:59.999Z"),
    ("-000001-12-31T23:59:59.999Z", "0001-01-01T00:00:00.000Z"),
    ("+002026-11-29T18:55:54.106Z", "2026-11-29T18:55:54.106Z"),
]


@pytest.mark.parametrize(("text", "stored"), ACCEPTED)
def test_every_iso_8601_form_of_a_point_in_time_is_read(text: str, stored: str) -> None:
    assert format_instant(parse_instant(text)) == stored


REFUSED: list[tuple[str, str]] = [
    ("", "is empty"),
    ("   ", "is empty"),
    ("yesterday", "'yesterday'"),
    ("1764442554", "'1764442554'"),
    ("2026-13-01", "month 13 does not exist"),
    ("2026-00-10", "month 00 does not exist"),
    ("2026-02-29", "2026-02 has no day 29"),
    ("2026-04-31T10:00Z", "2026-04 has no day 31"),
    ("2026-11-00", "has no day 00"),
    ("2026-366", "year 2026 has no day 366"),
    ("2026-000", "has no day 000"),
    ("2025-W53-1", "year 2025 has no week 53"),
    ("2026-W00", "has no week 00"),
    ("2026-W01-8", "weekday 8 does not exist"),
    ("2026-W01-0", "weekday 0 does not exist"),
    ("2026-1-1", "month and day take two digits"),
    ("2026-11-29T25:00Z", "hour 25 does not exist"),
    ("2026-11-29T10:60Z", "minute 60 does not exist"),
    ("2026-11-29T10:59:61Z", "second 61 does not exist"),
    ("2026-11-29T24:00:01Z", "only 24:00:00"),
    ("2026-11-29T24:30Z", "only 24:00:00"),
    ("2026-11-29T24:00:00.5Z", "only 24:00:00"),
    ("2026-11-29T10:30:60Z", "a leap second is 23:59:60 UTC"),
    ("2026-11-29T23:59:60Z", "a leap second is 23:59:60 UTC"),
    ("2016-12-31T23:59:60+01:00", "a leap second is 23:59:60 UTC"),
    ("2026-11-29T10:00+24:00", "an offset runs from -23:59 to +23:59"),
    ("2026-11-29T10:00+01:60", "an offset runs from -23:59 to +23:59"),
    ("2026-11-29T10:00:00+01:00:30", "an offset has no seconds"),
    ("2026-11-29T10:00:00.5+01:00:30.5", "an offset has no seconds"),
    ("20261129T10:00:00", "mixes the basic and extended formats"),
    ("2026-11-29T100000", "mixes the basic and extended formats"),
    ("2026-11-29X10:00:00", "'2026-11-29X10:00:00'"),
    ("2026-11-29T10:00:00 +01:00", "is not a time of day"),
    ("2026-11-29T10:00:00 Z", "is not a time of day"),
    ("2026-11-29  10:00:00", "is not a time of day"),
    ("2026-11-29T", "is not a time of day"),
    ("2026-11-29T10:00:00.", "is not a time of day"),
    ("2026-11-29T10.5:30", "is not a time of day"),
    ("2026-11-29T10:00:00ZZ", "is not a time of day"),
    ("2026-11-29T10:00:00+01:00Z", "is not a time of day"),
    ("2026-11T10:00", "a date that is not complete"),
    ("2026T10:00", "a date that is not complete"),
    ("10:00:00", "a time of day without a date"),
    ("T10:00:00Z", "a time of day without a date"),
    ("\uff12\uff10\uff12\uff16-11-29", "characters other than ASCII"),
    ("2026-11-29T1\u0660:00:00Z", "characters other than ASCII"),
    ("P1D", "is an ISO 8601 duration"),
    ("PT36H", "is an ISO 8601 duration"),
    ("2026-11-29/2026-11-30", "is an ISO 8601 time interval"),
    ("R5/2026-11-29T10:00:00Z/PT1H", "is an ISO 8601 time interval"),
    ("202611", "'202611'"),
    ("+2026-11-29", "'+2026-11-29'"),
    ("2026-w48-7", "'2026-w48-7'"),
]


@pytest.mark.parametrize(("text", "reason"), REFUSED)
def test_anything_else_is_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_instant(text, field="batch[3].timestamp")
    assert caught.value.field == "batch[3].timestamp"
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-29X18:55:54",
        "2026-11-29T18:55:54+01:00:30",
        "2026-11-29T1855",
        "2026-11-29T18:55:54 +01:00",
    ],
)
def test_python_s_lenient_fromisoformat_is_not_the_judge(text: str) -> None:
    """Python 3.11 reads these; ISO 8601 does not allow them."""
    datetime.fromisoformat(text)
    with pytest.raises(ValidationError):
        parse_instant(text)


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-29T24:00:00Z",
        "2016-12-31T23:59:60Z",
        "2026-333",
        "2026-11",
        "2026-11-29t18:55:54z",
        "+002026-11-29",
        "0001-01-01T00:00:00+01:00",
    ],
)
def test_python_s_strict_fromisoformat_is_not_the_judge_either(text: str) -> None:
    """Python 3.11 refuses (or cannot hold) these; ISO 8601 allows them."""
    with pytest.raises((ValueError, OverflowError)):
        datetime.fromisoformat(text).astimezone(UTC)
    parse_instant(text)


def test_any_moment_in_range_written_in_either_format_with_any_offset_reads_back_exactly() -> None:
    """20,000 random moments: extended (``isoformat``) and basic, with random offsets."""
    chooser = random.Random(20261129)
    span = (LATEST - EARLIEST) // timedelta(microseconds=1)
    for _ in range(20_000):
        moment = EARLIEST + timedelta(microseconds=chooser.randint(0, span))
        offset = timezone(timedelta(minutes=chooser.randint(-1439, 1439)))
        local = moment.astimezone(offset) if 2 <= moment.year <= 9998 else moment
        extended = local.isoformat()
        basic = (
            f"{local.year:04d}{local.month:02d}{local.day:02d}T"
            f"{local.hour:02d}{local.minute:02d}{local.second:02d}.{local.microsecond:06d}"
            + extended[-6:].replace(":", "")
        )
        assert parse_instant(extended) == instant_of(moment), extended
        assert parse_instant(basic) == instant_of(moment), basic


def test_week_and_ordinal_dates_agree_with_the_calendar_for_every_day_of_four_centuries() -> None:
    start = date(1900, 1, 1)
    for offset in range(0, 146_097, 3):  # a step prime to 7 meets every weekday of every week
        day = start + timedelta(days=offset)
        year, week, weekday = day.isocalendar()
        midnight = instant_of(datetime(day.year, day.month, day.day, tzinfo=UTC))
        assert parse_instant(f"{year:04d}-W{week:02d}-{weekday}") == midnight, day
        assert parse_instant(f"{day.year:04d}-{day.timetuple().tm_yday:03d}") == midnight, day


def test_years_with_53_iso_weeks_are_those_starting_on_thursday_or_leap_ones_on_wednesday() -> None:
    long_years = [year for year in range(2000, 2041) if weeks_in_year(year) == 53]
    assert long_years == [2004, 2009, 2015, 2020, 2026, 2032, 2037]


def test_the_range_clamps_to_its_nearest_end() -> None:
    assert clamp(EARLIEST_INSTANT - 1) == EARLIEST_INSTANT
    assert clamp(LATEST_INSTANT + 10**18) == LATEST_INSTANT
    assert clamp(0) == 0
    assert not is_representable(EARLIEST_INSTANT - 1)
    assert is_representable(LATEST_INSTANT)
    assert datetime_of(-(10**20)) == EARLIEST
    assert datetime_of(10**20) == LATEST
    assert format_instant(LATEST_INSTANT) == "9999-12-31T23:59:59.999Z"


def test_formatting_a_datetime_whose_utc_time_leaves_the_range_gives_the_nearest_end() -> None:
    assert format_timestamp(datetime.min.replace(tzinfo=timezone(timedelta(hours=1)))) == (
        "0001-01-01T00:00:00.000Z"
    )
    assert format_timestamp(datetime.max.replace(tzinfo=timezone(timedelta(hours=-1)))) == (
        "9999-12-31T23:59:59.999Z"
    )
    assert format_timestamp(datetime(5, 3, 1, 12, 0)) == "0005-03-01T12:00:00.000Z"


def test_parse_timestamp_gives_a_utc_datetime_at_the_nearest_end_of_the_range() -> None:
    assert parse_timestamp("0001-01-01T00:00:00+01:00") == EARLIEST
    assert parse_timestamp("9999-12-31T23:59:59-01:00") == LATEST
    assert parse_timestamp("2026-W48-7T18:55:54+01:00") == datetime(
        2026, 11, 29, 17, 55, 54, tzinfo=UTC
    )
