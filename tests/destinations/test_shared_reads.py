"""Destinations share one decoded copy of the log's newest events, and never a stale one."""

from __future__ import annotations

import random
from collections.abc import Sequence

from audience.destinations.shared_reads import SharedReads
from audience.eventlog import EventFeed, StoredEvent
from audience.storage.backend import EventStore

from .conftest import Append, track


class CountedFeed:
    """The real store, counting the reads that reach it."""

    def __init__(self, feed: EventFeed) -> None:
        self.feed = feed
        self.reads = 0

    def read_after(self, seq: int, limit: int) -> list[StoredEvent]:
        self.reads += 1
        return self.feed.read_after(seq, limit)

    def get_many(self, seqs: Sequence[int]) -> list[StoredEvent]:
        return self.feed.get_many(seqs)

    def last_seq(self) -> int:
        return self.feed.last_seq()


class Stopwatch:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_second_destination_at_the_same_place_gets_the_events_without_reading_the_store(
    append: Append, event_store: EventStore
) -> None:
    append([track(n) for n in range(1, 51)])
    counted = CountedFeed(event_store)
    shared = SharedReads(counted, monotonic=Stopwatch())

    first = shared.read_after(0, 20)
    second = shared.read_after(0, 20)
    following = shared.read_after(first[-1].seq, 20)

    assert second == first == event_store.read_after(0, 20)
    assert following == event_store.read_after(first[-1].seq, 20)
    assert counted.reads == 2


def test_events_committed_after_the_window_was_read_are_read_from_the_store(
    append: Append, event_store: EventStore
) -> None:
    append([track(n) for n in range(1, 11)])
    shared = SharedReads(event_store, monotonic=Stopwatch())
    assert len(shared.read_after(0, 100)) == 10

    append([track(n) for n in range(11, 21)])

    assert shared.read_after(0, 100) == event_store.read_after(0, 100)
    assert [event.message["messageId"] for event in shared.read_after(0, 100)] == [
        f"m-{n}" for n in range(1, 21)
    ]


def test_an_event_deleted_from_the_store_is_not_handed_out_once_the_window_is_old(
    append: Append, event_store: EventStore
) -> None:
    append([track(n, userId=f"u-{n % 2}") for n in range(1, 11)])
    stopwatch = Stopwatch()
    shared = SharedReads(event_store, max_age=0.5, monotonic=stopwatch)
    assert len(shared.read_after(0, 100)) == 10

    event_store.delete_events(user_ids=["u-1"], anonymous_ids=[], seqs=[])
    stopwatch.now = 0.6

    assert [event.message["userId"] for event in shared.read_after(0, 100)] == ["u-0"] * 5


def test_readers_anywhere_in_the_log_read_exactly_what_the_store_holds(
    append: Append, event_store: EventStore
) -> None:
    chooser = random.Random(7)
    stopwatch = Stopwatch()
    shared = SharedReads(event_store, capacity=40, max_age=1.0, monotonic=stopwatch)
    sent = 0
    positions = [0, 0, 0]
    for _ in range(300):
        if chooser.random() < 0.2:
            count = chooser.randint(1, 15)
            append([track(n) for n in range(sent + 1, sent + count + 1)])
            sent += count
        stopwatch.now += chooser.random() * 0.2
        reader = chooser.randrange(len(positions))
        if chooser.random() < 0.05:
            positions[reader] = chooser.randint(0, max(sent - 1, 0))
        limit = chooser.randint(1, 30)
        got = shared.read_after(positions[reader], limit)
        assert got == event_store.read_after(positions[reader], limit)
        if got:
            positions[reader] = got[-1].seq


def test_a_destination_a_little_behind_another_finds_what_the_first_read_a_moment_ago(
    append: Append, event_store: EventStore
) -> None:
    append([track(n) for n in range(1, 31)])
    counted = CountedFeed(event_store)
    stopwatch = Stopwatch()
    shared = SharedReads(counted, max_age=1.0, monotonic=stopwatch)
    leading = shared.read_after(0, 10)
    stopwatch.now = 0.8
    shared.read_after(leading[-1].seq, 10)
    stopwatch.now = 1.2
    reads_before = counted.reads

    trailing = shared.read_after(0, 10)  # read a second and more ago: from the store again
    assert counted.reads == reads_before + 1
    following = shared.read_after(trailing[-1].seq, 10)  # read 0.4 s ago: from the window

    assert counted.reads == reads_before + 1
    assert trailing + following == event_store.read_after(0, 20)
