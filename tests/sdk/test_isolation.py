"""The isolation rules on their own: what becomes of a batch that fails again."""

from __future__ import annotations

import pytest

from audience.errors import ConfigError, PermanentDeliveryError, RetryableDeliveryError
from audience.retry import RetryPolicy, splittable
from audience.sdk.isolation import (
    GiveUp,
    IsolationPolicy,
    Keep,
    Split,
    Trouble,
    Verdict,
    after_retryable_failure,
    halves,
    is_due,
    wants_probe,
)

POLICY = IsolationPolicy(set_aside_after=3, give_up_after=10, give_up_age=3600.0)
NOW = 1_000_000.0


def judge(trouble: Trouble, *, messages: int = 100, others_accepted: bool = True) -> Verdict:
    return after_retryable_failure(
        trouble,
        messages=messages,
        others_accepted=others_accepted,
        now=NOW,
        isolation=POLICY,
        wait=5.0,
    )


def test_a_first_failure_keeps_the_batch_first_in_line() -> None:
    assert judge(Trouble()) == Keep(Trouble(attempts=1, strikes=1, first_failure=NOW))


def test_a_batch_in_line_is_set_aside_when_it_fails_again_after_three_while_others_pass() -> None:
    failed_thrice = Trouble(attempts=3, strikes=0, first_failure=NOW - 9)
    assert wants_probe(failed_thrice, POLICY)
    assert judge(failed_thrice) == Keep(
        Trouble(attempts=4, strikes=1, first_failure=NOW - 9, retry_at=NOW + 5.0)
    )


def test_when_nothing_else_is_accepted_a_failing_batch_stays_in_line_and_gains_no_strike() -> None:
    """The collector is down: order is kept and nothing counts toward giving up."""
    long_failing = Trouble(attempts=500, strikes=0, first_failure=NOW - 86_400)
    assert judge(long_failing, messages=1, others_accepted=False) == Keep(
        Trouble(attempts=501, strikes=0, first_failure=NOW - 86_400)
    )


def test_a_batch_set_aside_that_fails_while_others_pass_is_split_and_due_at_once() -> None:
    aside = Trouble(attempts=4, strikes=1, first_failure=NOW - 9, retry_at=NOW - 1)
    assert judge(aside) == Split(Trouble(5, 2, NOW - 9, retry_at=NOW))


def test_a_batch_set_aside_that_fails_while_nothing_passes_waits_again_unsplit() -> None:
    aside = Trouble(attempts=4, strikes=1, first_failure=NOW - 9, retry_at=NOW - 1)
    assert judge(aside, others_accepted=False) == Keep(Trouble(5, 1, NOW - 9, retry_at=NOW + 5))


@pytest.mark.parametrize(
    ("strikes", "age", "given_up"),
    [(9, 3600.0, True), (8, 3600.0, False), (9, 3599.0, False), (40, 3599.0, False)],
)
def test_a_single_message_is_given_up_after_ten_strikes_and_an_hour(
    strikes: int, age: float, given_up: bool
) -> None:
    alone = Trouble(attempts=strikes + 3, strikes=strikes, first_failure=NOW - age, retry_at=NOW)
    verdict = judge(alone, messages=1)
    assert isinstance(verdict, GiveUp) is given_up
    if not given_up:
        assert verdict == Keep(Trouble(strikes + 4, strikes + 1, NOW - age, retry_at=NOW + 5.0))


def test_the_error_of_a_message_given_up_says_how_long_and_how_often_it_failed() -> None:
    verdict = GiveUp(Trouble(attempts=14, strikes=10, first_failure=NOW - 3700))
    error = verdict.error(RetryableDeliveryError("the collector answered 500", status=500), NOW)
    assert error.status == 500
    assert str(error) == (
        "given up after 14 failed attempts over 3700 s, 10 of them while other batches were "
        "delivered; the last: the collector answered 500"
    )


def test_a_set_aside_batch_is_due_at_its_time_or_when_the_clock_went_back() -> None:
    retry = RetryPolicy(cap=60.0, max_retry_after=300.0)
    assert is_due(Trouble(), NOW, retry)
    assert is_due(Trouble(retry_at=NOW), NOW, retry)
    assert not is_due(Trouble(retry_at=NOW + 30), NOW, retry)
    assert is_due(Trouble(retry_at=NOW + 301), NOW, retry)


@pytest.mark.parametrize(
    ("status", "split"), [(400, True), (413, True), (422, True), (401, False), (404, False)]
)
def test_only_answers_about_content_split_a_batch(status: int, split: bool) -> None:
    assert splittable(PermanentDeliveryError("refused", status=status)) is split
    assert not splittable(RetryableDeliveryError("down", status=503))


def test_halves_keep_the_order_and_differ_by_at_most_one() -> None:
    bodies = [bytes([n]) for n in range(7)]
    assert halves(bodies) == (bodies[:4], bodies[4:])
    assert halves(bodies[:2]) == ([bodies[0]], [bodies[1]])


def test_a_trouble_reads_back_as_written_and_an_unreadable_one_as_none() -> None:
    trouble = Trouble(attempts=4, strikes=2, first_failure=NOW - 1.5, retry_at=NOW + 2.25)
    assert Trouble.decode(trouble.encode()) == trouble
    assert Trouble.decode(Trouble().encode()) == Trouble()
    assert Trouble.decode(b"not json") == Trouble()
    assert Trouble.decode(b"[1, 2]") == Trouble()


@pytest.mark.parametrize(
    "change",
    [{"set_aside_after": 0}, {"give_up_after": 0}, {"give_up_age": -1.0}],
)
def test_an_isolation_policy_that_cannot_work_is_refused(change: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        IsolationPolicy(**change)  # type: ignore[arg-type]
