"""Points in time as clients write them (ISO 8601, RFC 3339), and the range audience stores.

Pure. ``parse_instant`` reads every form of a date and time that ISO 8601-1 and RFC 3339 give
a point in time, and nothing else, into an *instant*: an integer count of microseconds since
1970-01-01T00:00:00Z. Instants have no range, so arithmetic on them (the collector's clock-skew
correction) cannot overflow; ``clamp`` brings one into the representable range, 0001-01-01T00:00:00Z
to 9999-12-31T23:59:59.999999Z (what Python's ``datetime``, SQLite text, PostgreSQL ``timestamptz``
and DuckDB ``TIMESTAMPTZ`` all hold), and ``format_instant`` writes the one stored form:
UTC, milliseconds, ``Z`` (``2026-11-29T18:55:54.106Z``), which sorts in time order as text.

Accepted, in the extended (``2026-11-29T18:55:54Z``) or the basic (``20261129T185554Z``) format:

- dates: calendar (``2026-11-29``), ordinal (``2026-333``), week (``2026-W48-7``), and with
  reduced precision when no time follows (``2026-11``, ``2026``, ``2026-W48``); a year of
  four digits, or an expanded year of a sign and five digits or more (``+010000-01-01``,
  ``-000001-12-31``: what JavaScript's ``toISOString`` writes outside years 0 to 9999);
- times after ``T``, ``t`` or one space (RFC 3339 allows the last two): ``hh``, ``hh:mm``,
  ``hh:mm:ss``, with a decimal fraction of any length on the last of them, after ``.`` or ``,``
  (kept to the microsecond, truncated); ``24:00:00`` (the end of the day); a leap second
  ``23:59:60`` (UTC) stored as ``23:59:59.999999``;
- offsets ``Z``, ``z``, ``±hh``, ``±hhmm``, ``±hh:mm`` (``-00:00`` too), with ``-`` or ``−``
  (U+2212); no offset means UTC.

Refused, each with its reason: other shapes, digits other than ASCII ``0``-``9``, values that
do not exist (month 13, 2026-02-29, week 53 of a 52-week year, 25:00, 10:60, a leap second
anywhere but the last minute of a UTC month), a date and time mixing the basic and extended
formats, a time without a complete date, offsets with seconds or past 23:59, durations and
intervals. ``datetime.fromisoformat`` (Python 3.11) is not the judge: it takes any character
as the separator, offsets with seconds and mixed formats, and refuses ``24:00``, leap seconds,
ordinal and reduced dates, expanded years, ``t`` and ``z``.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta
from typing import Final

from audience.errors import ValidationError

MICROSECOND: Final = timedelta(microseconds=1)
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH: Final = datetime(1970, 1, 1)

EARLIEST: Final = datetime(1, 1, 1, tzinfo=UTC)
"""The first representable moment, 0001-01-01T00:00:00.000Z."""

LATEST: Final = datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
"""The last representable moment, stored as 9999-12-31T23:59:59.999Z."""

EARLIEST_INSTANT: Final = (EARLIEST - EPOCH) // MICROSECOND
LATEST_INSTANT: Final = (LATEST - EPOCH) // MICROSECOND

RANGE_TEXT: Final = "0001-01-01T00:00:00.000Z to 9999-12-31T23:59:59.999Z"

_DAY: Final = 86_400_000_000
_HOUR: Final = 3_600_000_000
_MINUTE: Final = 60_000_000
_SECOND: Final = 1_000_000
_FRACTION_DIGITS: Final = 12
"""Digits of a fraction that count: enough for a microsecond of an hour, far below Python's
limit on converting long digit strings to numbers."""

_COMMON: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?(?:Z|[+-][0-9]{2}:[0-9]{2})"
)
"""What nearly every client sends (``...T18:55:54.106Z``, ``...54.106123+00:00``): read by
``datetime.fromisoformat``, which is exact on these strings."""

_YEAR: Final = r"(?P<year>[0-9]{4}|[+-][0-9]{5,9})"
_EXTENDED_DATES: Final = (
    re.compile(_YEAR + r"-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})"),
    re.compile(_YEAR + r"-(?P<ordinal>[0-9]{3})"),
    re.compile(_YEAR + r"-W(?P<week>[0-9]{2})-(?P<weekday>[0-9])"),
    re.compile(_YEAR + r"-W(?P<week>[0-9]{2})"),
    re.compile(_YEAR + r"-(?P<month>[0-9]{2})"),
    re.compile(_YEAR),
)
_BASIC_DATES: Final = (
    re.compile(r"(?P<year>[0-9]{4})(?P<month>[0-9]{2})(?P<day>[0-9]{2})"),
    re.compile(r"(?P<year>[0-9]{4})(?P<ordinal>[0-9]{3})"),
    re.compile(r"(?P<year>[0-9]{4})W(?P<week>[0-9]{2})(?P<weekday>[0-9])"),
    re.compile(r"(?P<year>[0-9]{4})W(?P<week>[0-9]{2})"),
)
_OFFSET: Final = (
    r"(?:(?P<zulu>[Zz])|(?P<sign>[+-])(?P<offset_hour>[0-9]{2})(?::?(?P<offset_minute>[0-9]{2}))?)?"
)
_FRACTION: Final = r"(?:[.,](?P<fraction>[0-9]+))?"
_EXTENDED_TIME: Final = re.compile(
    r"(?P<hour>[0-9]{2})(?::(?P<minute>[0-9]{2})(?::(?P<second>[0-9]{2}))?)?" + _FRACTION + _OFFSET
)
_BASIC_TIME: Final = re.compile(
    r"(?P<hour>[0-9]{2})(?:(?P<minute>[0-9]{2})(?P<second>[0-9]{2})?)?" + _FRACTION + _OFFSET
)
_SEPARATOR: Final = re.compile(r"[Tt ]")
_LOOSE_DATE: Final = re.compile(r"[0-9]{1,4}-[0-9]{1,2}(?:-[0-9]{1,2})?")
_TIME_ALONE: Final = re.compile(r"[0-9]{2}:[0-9]{2}.*")
_OFFSET_SECONDS: Final = re.compile(r"[+-][0-9]{2}:[0-9]{2}:[0-9]{2}")


def parse_instant(text: str, field: str = "timestamp") -> int:
    """``text`` as microseconds since 1970-01-01T00:00:00Z, unbounded; a value without an
    offset is UTC.

    Raises ``ValidationError`` naming ``field``, whose reason says what is wrong.
    """
    try:
        return _read_cached(text) if len(text) <= _CACHED_LENGTH else _read(text)
    except ValidationError as exc:
        raise ValidationError(field, exc.reason) from None


def _read(text: str) -> int:
    candidate = text.strip()
    if _COMMON.fullmatch(candidate):
        zulu = candidate[-1] == "Z"
        try:
            local = datetime.fromisoformat(candidate[:-1] if zulu else candidate[:-6])
        except ValueError:
            pass  # 24:00, a leap second, a day that does not exist: the full reading says which
        else:
            # Naive arithmetic and the offset by hand: a third of the cost of an aware datetime.
            instant = (local - _NAIVE_EPOCH) // MICROSECOND
            if zulu or candidate.endswith("00:00"):
                return instant
            offset = int(candidate[-5:-3]) * _HOUR + int(candidate[-2:]) * _MINUTE
            return instant - offset if candidate[-6] == "+" else instant + offset
    return _parse(candidate, "timestamp")


_read_cached: Final = functools.lru_cache(maxsize=4096)(_read)
"""``_read`` remembered for short strings: the collector reads each timestamp twice (validation,
then enrichment), and a batch's messages often share their ``sentAt``."""

_CACHED_LENGTH: Final = 40
"""Longer strings (a fraction of many digits) are read each time, so the cache stays small."""


def _parse(text: str, field: str) -> int:
    if not text:
        raise ValidationError(field, "is empty")
    text = text.replace("\u2212", "-")  # ISO 8601's own minus sign
    if not text.isascii():
        raise ValidationError(
            field, "is not an ISO 8601 timestamp: it holds characters other than ASCII"
        )
    if "/" in text:
        raise ValidationError(field, "is an ISO 8601 time interval, not a point in time")
    if text[0] in "PR":
        raise ValidationError(field, "is an ISO 8601 duration, not a point in time")
    parts = _SEPARATOR.split(text, maxsplit=1)
    date_text = parts[0]
    time_text = parts[1] if len(parts) == 2 else None
    if not date_text or _TIME_ALONE.fullmatch(text):
        raise ValidationError(field, "is a time of day without a date")
    days, basic, complete = _parse_date(date_text, text, field)
    if time_text is None:
        return days * _DAY
    if not complete:
        raise ValidationError(
            field, "has a time after a date that is not complete (year, month and day)"
        )
    return _parse_time(time_text, days, basic, field)


def _parse_date(text: str, whole: str, field: str) -> tuple[int, bool, bool]:
    """Days since 1970-01-01, whether the date is in the basic format, and whether complete."""
    for basic, patterns in ((False, _EXTENDED_DATES), (True, _BASIC_DATES)):
        for pattern in patterns:
            match = pattern.fullmatch(text)
            if match is not None:
                return _date_days(match.groupdict(), field), basic, _is_complete(match.groupdict())
    if _LOOSE_DATE.fullmatch(text):
        raise ValidationError(
            field, "is not an ISO 8601 timestamp: month and day take two digits each"
        )
    raise ValidationError(field, f"is not an ISO 8601 timestamp: {whole[:40]!r}")


def _is_complete(groups: dict[str, str | None]) -> bool:
    return bool(groups.get("day") or groups.get("ordinal") or groups.get("weekday"))


def _year(text: str) -> int:
    if text[0] == "-":
        return -int(text[1:])
    return int(text)


def _date_days(groups: dict[str, str | None], field: str) -> int:
    year_text = groups["year"]
    assert year_text is not None
    year = _year(year_text)
    month, day, ordinal = groups.get("month"), groups.get("day"), groups.get("ordinal")
    week, weekday = groups.get("week"), groups.get("weekday")
    if ordinal is not None:
        number = int(ordinal)
        length = 366 if is_leap_year(year) else 365
        if not 1 <= number <= length:
            raise ValidationError(field, f"is not a date: year {year} has no day {ordinal}")
        return days_from_civil(year, 1, 1) + number - 1
    if week is not None:
        number = int(week)
        if not 1 <= number <= weeks_in_year(year):
            raise ValidationError(field, f"is not a date: year {year} has no week {week}")
        day_of_week = int(weekday) if weekday is not None else 1
        if not 1 <= day_of_week <= 7:
            raise ValidationError(
                field, f"is not a date: weekday {weekday} does not exist (1 to 7)"
            )
        return _week_one_monday(year) + (number - 1) * 7 + day_of_week - 1
    month_number = int(month) if month is not None else 1
    if not 1 <= month_number <= 12:
        raise ValidationError(field, f"is not a date: month {month} does not exist")
    day_number = int(day) if day is not None else 1
    if not 1 <= day_number <= days_in_month(year, month_number):
        raise ValidationError(field, f"is not a date: {year:04d}-{month} has no day {day}")
    return days_from_civil(year, month_number, day_number)


def _parse_time(text: str, days: int, basic_date: bool, field: str) -> int:
    pattern = _BASIC_TIME if basic_date else _EXTENDED_TIME
    match = pattern.fullmatch(text)
    if match is None:
        other = _EXTENDED_TIME if basic_date else _BASIC_TIME
        if other.fullmatch(text):
            raise ValidationError(
                field, "is not an ISO 8601 timestamp: it mixes the basic and extended formats"
            )
        if _OFFSET_SECONDS.search(text):
            raise ValidationError(field, "is not an ISO 8601 timestamp: an offset has no seconds")
        raise ValidationError(
            field, f"is not an ISO 8601 timestamp: {text[:40]!r} is not a time of day"
        )
    hour = int(match["hour"])
    minute = int(match["minute"] or 0)
    second = int(match["second"] or 0)
    fraction = match["fraction"]
    if hour > 24:
        raise ValidationError(field, f"is not a time: hour {match['hour']} does not exist")
    if minute > 59:
        raise ValidationError(field, f"is not a time: minute {match['minute']} does not exist")
    if second > 60:
        raise ValidationError(field, f"is not a time: second {match['second']} does not exist")
    if hour == 24 and (minute or second or (fraction and fraction.strip("0"))):
        raise ValidationError(field, "is not a time: only 24:00:00 may follow 23:59:59")
    offset = _offset(match, field)
    if match["second"] is not None:
        unit = _SECOND
    elif match["minute"] is not None:
        unit = _MINUTE
    else:
        unit = _HOUR
    part = 0
    if fraction:
        digits = fraction[:_FRACTION_DIGITS]
        part = unit * int(digits) // 10 ** len(digits)
    leap = second == 60
    clock = hour * _HOUR + minute * _MINUTE + (59 if leap else second) * _SECOND
    instant = days * _DAY + clock - offset
    if not leap:
        return instant + part
    # A leap second is 23:59:60 UTC on the last day of a month; it is kept as the last
    # microsecond before the next minute, so it sorts after 23:59:59 and before midnight.
    seconds = instant // _SECOND
    next_day = (seconds + 1) // 86_400
    if (seconds + 1) % 86_400 or civil_from_days(next_day)[2] != 1:
        raise ValidationError(
            field, "is not a time: a leap second is 23:59:60 UTC on a month's last day"
        )
    return instant + _SECOND - 1


def _offset(match: re.Match[str], field: str) -> int:
    sign = match["sign"]
    if sign is None:
        return 0
    hours = int(match["offset_hour"])
    minutes = int(match["offset_minute"] or 0)
    if hours > 23 or minutes > 59:
        raise ValidationError(field, "is not a time: an offset runs from -23:59 to +23:59")
    total = hours * _HOUR + minutes * _MINUTE
    return -total if sign == "-" else total


def is_leap_year(year: int) -> bool:
    """Proleptic Gregorian leap years, year 0 (1 BC) included."""
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def days_in_month(year: int, month: int) -> int:
    """The number of days of ``month`` (1 to 12) in ``year``."""
    if month == 2:
        return 29 if is_leap_year(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to a proleptic Gregorian date, for any year (H. Hinnant's method)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468


def civil_from_days(days: int) -> tuple[int, int, int]:
    """The (year, month, day) ``days`` after 1970-01-01: the inverse of ``days_from_civil``."""
    days += 719_468
    era = days // 146_097
    day_of_era = days - era * 146_097
    year_of_era = (
        day_of_era - day_of_era // 1460 + day_of_era // 36_524 - day_of_era // 146_096
    ) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    shifted_month = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * shifted_month + 2) // 5 + 1
    month = shifted_month + (3 if shifted_month < 10 else -9)
    return year_of_era + era * 400 + (month <= 2), month, day


def iso_weekday(days: int) -> int:
    """1 (Monday) to 7 (Sunday) for the day ``days`` after 1970-01-01 (a Thursday)."""
    return (days + 3) % 7 + 1


def _week_one_monday(year: int) -> int:
    """The Monday of ISO week 1: the week holding the year's first Thursday (and 4 January)."""
    fourth = days_from_civil(year, 1, 4)
    return fourth - iso_weekday(fourth) + 1


def weeks_in_year(year: int) -> int:
    """52 or 53: a year has 53 ISO weeks when it starts on a Thursday, or is a leap year
    starting on a Wednesday."""
    return (_week_one_monday(year + 1) - _week_one_monday(year)) // 7


def clamp(instant: int) -> int:
    """``instant`` moved to the nearest end of the representable range when outside it."""
    if instant < EARLIEST_INSTANT:
        return EARLIEST_INSTANT
    if instant > LATEST_INSTANT:
        return LATEST_INSTANT
    return instant


def is_representable(instant: int) -> bool:
    """Whether ``instant`` lies in 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999Z."""
    return EARLIEST_INSTANT <= instant <= LATEST_INSTANT


def instant_of(moment: datetime) -> int:
    """A ``datetime`` as an instant; a naive one is taken as UTC. Never overflows."""
    if moment.utcoffset() is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // MICROSECOND


def datetime_of(instant: int) -> datetime:
    """The UTC ``datetime`` of ``instant``, clamped to the representable range."""
    return EPOCH + clamp(instant) * MICROSECOND


def format_instant(instant: int) -> str:
    """The stored form of ``instant``, clamped: UTC, milliseconds, ``Z``."""
    days, rest = divmod(clamp(instant), _DAY)
    seconds, micros = divmod(rest, _SECOND)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return "%s%02d:%02d:%02d.%03dZ" % (  # noqa: UP031
        _date_prefix(days),
        hour,
        minute,
        second,
        micros // 1000,
    )


@functools.lru_cache(maxsize=1024)
def _date_prefix(days: int) -> str:
    """``2026-11-29T`` for the day ``days`` after 1970-01-01: the same few days recur."""
    year, month, day = civil_from_days(days)
    return "%04d-%02d-%02dT" % (year, month, day)  # noqa: UP031


def format_utc(moment: datetime) -> str:
    """The stored form of a UTC ``datetime``: ``2026-11-29T18:55:54.106Z``."""
    # Formatting the fields directly costs about half of isoformat(timespec="milliseconds").
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (  # noqa: UP031
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond // 1000,
    )
