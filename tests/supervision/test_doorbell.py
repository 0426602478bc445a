"""The doorbell's coalescing: at most one ring a window, and every commit rung in the end.

The doorbell reads time from a clock the test moves by hand, so which rings fall within a
window never depends on how fast the machine is; the pipe and the doorbell's thread are real.
"""

from __future__ import annotations

import os
import select
import threading
from collections.abc import Iterator

import pytest

from audience.supervision import Doorbell
from audience.supervision.doorbell import drain
from support import wait_for

WINDOW = 0.02


class HandClock:
    """Seconds that pass only when the test says so; read from any thread."""

    def __init__(self) -> None:
        self.now = 100.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


@pytest.fixture
def clock() -> HandClock:
    return HandClock()


@pytest.fixture
def doorbell(clock: HandClock) -> Iterator[Doorbell]:
    bell = Doorbell(window=WINDOW, clock=clock)
    yield bell
    bell.close()


def rings_waiting(doorbell: Doorbell) -> int:
    """How many rings the child would read now (they are taken from the pipe)."""
    count = 0
    while select.select([doorbell.receiver], [], [], 0)[0]:
        chunk = os.read(doorbell.receiver.fileno(), 65536)
        if not chunk:
            break
        count += len(chunk)
    return count


def test_a_first_ring_is_written_at_once(doorbell: Doorbell) -> None:
    doorbell.ring(1)
    assert rings_waiting(doorbell) == 1


def test_rings_within_one_window_are_written_once_then_once_more_when_it_ends(
    doorbell: Doorbell, clock: HandClock
) -> None:
    doorbell.ring(1)
    for seq in range(2, 1002):
        doorbell.ring(seq)
    assert rings_waiting(doorbell) == 1  # the window has not passed: the rest are owed

    clock.advance(WINDOW)
    # The owed ring, written by the doorbell's own thread: once for all the rings owed.
    wait_for(lambda: select.select([doorbell.receiver], [], [], 0)[0], what="the owed ring")
    assert rings_waiting(doorbell) == 1


def test_a_ring_after_the_window_is_written_at_once(doorbell: Doorbell, clock: HandClock) -> None:
    doorbell.ring(1)
    clock.advance(WINDOW)
    doorbell.ring(2)
    assert rings_waiting(doorbell) == 2


def test_a_commit_after_the_owed_ring_is_owed_a_ring_of_its_own(
    doorbell: Doorbell, clock: HandClock
) -> None:
    doorbell.ring(1)
    doorbell.ring(2)
    assert rings_waiting(doorbell) == 1
    clock.advance(WINDOW)
    wait_for(lambda: rings_waiting(doorbell) == 1, what="the first owed ring")

    doorbell.ring(3)  # within the window of the owed ring
    assert rings_waiting(doorbell) == 0
    clock.advance(WINDOW)
    wait_for(lambda: rings_waiting(doorbell) == 1, what="the second owed ring")


def test_a_closed_doorbell_writes_no_owed_ring(clock: HandClock) -> None:
    doorbell = Doorbell(window=WINDOW, clock=clock)
    receiver = os.dup(doorbell.receiver.fileno())
    try:
        doorbell.ring(1)
        doorbell.ring(2)  # owed
        doorbell.close()
        clock.advance(WINDOW)
        doorbell.ring(3)
        assert os.read(receiver, 16) == b"\x01"
        assert os.read(receiver, 16) == b""  # nothing more, and no write end is left
    finally:
        os.close(receiver)


def test_the_child_drains_every_ring_waiting(doorbell: Doorbell, clock: HandClock) -> None:
    doorbell.ring(1)
    clock.advance(WINDOW)
    doorbell.ring(2)
    assert drain(doorbell.receiver)
    assert not drain(doorbell.receiver)
