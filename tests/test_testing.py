"""The test doubles shipped for users' tests: a clock the test moves and ids that count."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest

from audience import Analytics
from audience.errors import ValidationError
from audience.sdk.testing import RecordingTransport
from audience.testing import START, CountingIds, FakeClock


def test_a_fake_clock_stays_where_it_starts_until_it_is_moved() -> None:
    clock = FakeClock()
    assert (clock.now(), clock.monotonic()) == (START, 0.0)
    assert (clock.now(), clock.monotonic()) == (START, 0.0)
    assert clock.now().tzinfo is UTC


def test_advancing_moves_the_wall_clock_and_the_monotonic_clock_together() -> None:
    clock = FakeClock(datetime(2030, 5, 1, tzinfo=UTC), monotonic=100.0)
    clock.advance(1.5)
    clock.advance(timedelta(minutes=1))
    assert clock.now() == datetime(2030, 5, 1, 0, 1, 1, 500_000, tzinfo=UTC)
    assert clock.monotonic() == 161.5


def test_setting_the_wall_clock_back_leaves_the_monotonic_clock_alone() -> None:
    """As a system clock corrected by NTP: intervals keep counting forward."""
    clock = FakeClock()
    clock.advance(10)
    clock.set(START - timedelta(hours=1))
    assert (clock.now(), clock.monotonic()) == (START - timedelta(hours=1), 10.0)


def test_a_start_in_another_zone_is_told_in_utc() -> None:
    paris = timezone(timedelta(hours=1))
    clock = FakeClock(datetime(2026, 11, 29, 13, 0, tzinfo=paris))
    assert clock.now() == START
    assert clock.now().tzinfo is UTC


@pytest.mark.parametrize(
    ("move", "field"),
    [
        (lambda clock: clock.advance(-1), "by"),
        (lambda clock: clock.advance(timedelta(seconds=-1)), "by"),
        (lambda clock: clock.set(datetime(2026, 1, 1)), "moment"),
        (lambda clock: FakeClock(datetime(2026, 1, 1)), "start"),
    ],
)
def test_time_running_backwards_or_without_a_zone_is_refused_naming_the_argument(
    move: object, field: str
) -> None:
    clock = FakeClock()
    with pytest.raises(ValidationError) as error:
        move(clock)  # type: ignore[operator]
    assert error.value.field == field
    assert (clock.now(), clock.monotonic()) == (START, 0.0)


def test_counting_ids_count_from_their_start_with_their_prefix() -> None:
    assert [CountingIds().new() for _ in range(2)] == ["id-1", "id-1"]
    ids = CountingIds("anon-", start=7)
    assert [ids.new(), ids.new(), ids.new()] == ["anon-7", "anon-8", "anon-9"]


def test_counting_ids_never_repeat_across_threads() -> None:
    ids = CountingIds()
    seen: list[str] = []
    lock = threading.Lock()

    def take() -> None:
        mine = [ids.new() for _ in range(2000)]
        with lock:
            seen.extend(mine)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(seen) == sorted(f"id-{n}" for n in range(1, 8001))


def test_an_sdk_client_on_a_fake_clock_and_counting_ids_sends_what_a_test_can_spell_out() -> None:
    """The README's example: every anonymous id and timestamp is known in advance."""
    clock = FakeClock()
    transport = RecordingTransport()
    with Analytics(
        "wk_testing",
        storage="memory",
        transport=transport,
        clock=clock,
        anonymous_ids=CountingIds("anon-"),
    ) as analytics:
        analytics.track("Signed Up")
        clock.advance(90)
        analytics.reset()
        analytics.track("Came Back")
        assert analytics.flush(timeout=10)
    assert [(m["anonymousId"], m["timestamp"]) for m in transport.messages] == [
        ("anon-1", "2026-11-29T12:00:00.000Z"),
        ("anon-2", "2026-11-29T12:01:30.000Z"),
    ]
