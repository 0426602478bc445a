"""The one retry rule, as a table: what each answer means, what each Retry-After asks for, how
long each policy waits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from audience.errors import (
    ConfigError,
    DeliveryError,
    PermanentDeliveryError,
    RetryableDeliveryError,
)
from audience.retry import (
    RetryPolicy,
    classify,
    no_answer,
    parse_retry_after,
    requested_wait,
    splittable,
)

NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "outcome", "splits"),
    [
        (200, None, False),
        (201, None, False),
        (202, None, False),
        (204, None, False),
        (299, None, False),
        (100, PermanentDeliveryError, False),
        (301, PermanentDeliveryError, False),
        (304, PermanentDeliveryError, False),
        (400, PermanentDeliveryError, True),
        (401, PermanentDeliveryError, False),
        (403, PermanentDeliveryError, False),
        (404, PermanentDeliveryError, False),
        (405, PermanentDeliveryError, False),
        (408, RetryableDeliveryError, False),
        (409, PermanentDeliveryError, False),
        (410, PermanentDeliveryError, False),
        (413, PermanentDeliveryError, True),
        (415, PermanentDeliveryError, False),
        (422, PermanentDeliveryError, True),
        (429, RetryableDeliveryError, False),
        (431, PermanentDeliveryError, False),
        (499, PermanentDeliveryError, False),
        (500, RetryableDeliveryError, False),
        (502, RetryableDeliveryError, False),
        (503, RetryableDeliveryError, False),
        (504, RetryableDeliveryError, False),
        (599, RetryableDeliveryError, False),
    ],
)
def test_every_answer_is_delivered_retryable_or_permanent(
    status: int, outcome: type[DeliveryError] | None, splits: bool
) -> None:
    """2xx delivered; 408, 429, 5xx retried; the rest permanent, 400/413/422 splittable."""
    error = classify(status, None, NOW, receiver="the collector")
    assert (None if error is None else type(error)) is outcome
    if error is not None:
        assert error.status == status
        assert str(error) == f"the collector answered {status}"
        assert splittable(error) is splits


def test_no_answer_at_all_is_worth_trying_again() -> None:
    """A network error or a timeout may pass: retryable, never split, no wait asked for."""
    error = no_answer("ConnectError: connection refused")
    assert isinstance(error, RetryableDeliveryError)
    assert (error.status, requested_wait(error), splittable(error)) == (None, None, False)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("0", 0.0),
        ("120", 120.0),
        (" 120 ", 120.0),
        ("007", 7.0),
        ("86400000", 86_400_000.0),
        ("-5", None),
        ("1.5", None),
        ("1e3", None),
        ("+30", None),
        ("\u0661\u0662", None),  # Arabic-Indic digits: not delay-seconds
        ("soon", None),
        ("Sun, 29 Nov 2026 12:01:30 GMT", 90.0),  # IMF-fixdate
        ("Sunday, 29-Nov-26 12:01:30 GMT", 90.0),  # RFC 850
        ("Sun Nov 29 12:01:30 2026", 90.0),  # asctime, read as GMT
        ("Sun, 29 Nov 2026 14:01:30 +0200", 90.0),  # a zone offset some servers send
        ("Sun, 29 Nov 2026 11:59:00 GMT", 0.0),  # already past: no wait
        ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0),
        ("Sun, 32 Nov 2026 12:01:30 GMT", None),
        ("Sun, 29 Nov 2026 25:01:30 GMT", None),
    ],
)
def test_retry_after_is_read_as_delay_seconds_or_an_http_date(
    header: str | None, seconds: float | None
) -> None:
    """RFC 9110: ASCII digits, or an HTTP-date in any of its three forms; anything else ignored."""
    assert parse_retry_after(header, NOW) == seconds


def test_a_retryable_answer_carries_the_wait_its_header_asked_for() -> None:
    date = classify(503, "Sun, 29 Nov 2026 12:00:45 GMT", NOW)
    seconds = classify(429, "12", NOW)
    assert isinstance(date, RetryableDeliveryError)
    assert isinstance(seconds, RetryableDeliveryError)
    assert (requested_wait(date), requested_wait(seconds)) == (45.0, 12.0)


def test_a_permanent_answer_asks_for_no_wait_whatever_its_header() -> None:
    error = classify(400, "30", NOW)
    assert isinstance(error, PermanentDeliveryError)
    assert requested_wait(error) is None


SDK = RetryPolicy(base=0.5, cap=60.0, max_retry_after=300.0, jitter="equal")
FULL = RetryPolicy(base=1.0, cap=8.0, max_retry_after=20.0, jitter="full")
FIXED = RetryPolicy(base=1.0, cap=10.0, max_retry_after=10.0, jitter="none")


@pytest.mark.parametrize(
    ("policy", "failures", "draw", "retry_after", "wait"),
    [
        # equal jitter: between half and all of base * 2**(failures - 1), capped
        (SDK, 1, 1.0, None, 0.5),
        (SDK, 2, 1.0, None, 1.0),
        (SDK, 3, 1.0, None, 2.0),
        (SDK, 4, 1.0, None, 4.0),
        (SDK, 1, 0.0, None, 0.25),
        (SDK, 4, 0.0, None, 2.0),
        (SDK, 4, 0.5, None, 3.0),
        (SDK, 8, 1.0, None, 60.0),
        (SDK, 8, 0.0, None, 30.0),
        (SDK, 10_000, 1.0, None, 60.0),
        (SDK, 0, 1.0, None, 0.5),
        # Retry-After lengthens the wait, never shortens it, never past max_retry_after
        (SDK, 1, 1.0, 7.0, 7.0),
        (SDK, 4, 1.0, 2.0, 4.0),
        (SDK, 1, 0.0, 10_000.0, 300.0),
        (SDK, 1, 1.0, 0.0, 0.5),
        # full jitter: anywhere between nothing and all of it
        (FULL, 1, 0.0, None, 0.0),
        (FULL, 3, 0.5, None, 2.0),
        (FULL, 3, 1.0, None, 4.0),
        (FULL, 6, 1.0, None, 8.0),
        (FULL, 1, 0.0, 15.0, 15.0),
        (FULL, 1, 0.0, 60.0, 20.0),
        # no jitter: the draw changes nothing
        (FIXED, 1, 0.0, None, 1.0),
        (FIXED, 2, 0.3, None, 2.0),
        (FIXED, 4, 1.0, None, 8.0),
        (FIXED, 5, 1.0, None, 10.0),
        (FIXED, 1, 1.0, 30.0, 10.0),
    ],
)
def test_backoff_doubles_to_its_cap_spread_by_its_jitter_and_waits_for_retry_after(
    policy: RetryPolicy, failures: int, draw: float, retry_after: float | None, wait: float
) -> None:
    """``base * 2**(failures - 1)`` capped, spread by the jitter, at least the capped header."""
    assert policy.delay(failures, retry_after, draw=draw) == pytest.approx(wait)


def test_the_longest_wait_a_policy_can_ask_for_is_its_cap_or_its_retry_after_cap() -> None:
    assert (SDK.longest, FULL.longest, FIXED.longest) == (300.0, 20.0, 10.0)


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"base": -1.0}, "base"),
        ({"base": 10.0, "cap": 1.0}, "base <= cap"),
        ({"max_retry_after": -1.0}, "max_retry_after"),
        ({"jitter": "some"}, "jitter"),
    ],
)
def test_a_retry_policy_that_cannot_work_is_refused_naming_the_setting(
    settings: dict[str, object], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        RetryPolicy(**settings)
