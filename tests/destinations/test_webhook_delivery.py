"""Webhook delivery against a real HTTP receiver on loopback, over the real event stores."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from click.testing import CliRunner

from audience.cli import main
from audience.clock import SystemClock
from audience.destinations.base import DestinationConfig, DestinationPolicy
from audience.destinations.delivery_store import DeliveryStore
from audience.destinations.dispatcher import BackgroundDispatcher, Dispatcher
from audience.destinations.webhook import sign, verify_signature, without_context_traits
from audience.eventlog import StoredEvent
from audience.storage.backend import EventStore
from audience.testing import FakeClock
from support import Receiver, wait_for

from .conftest import Append, track

SECRET = "s3cret-for-tests"


def webhook(
    url: str,
    max_attempts: int = 10,
    batch_size: int = 100,
    initial_backoff: float = 1.0,
    max_backoff: float = 8.0,
) -> DestinationConfig:
    policy = DestinationPolicy(max_attempts, initial_backoff, max_backoff, batch_size)
    return DestinationConfig("hook", "webhook", {"url": url, "secret": SECRET}, delivery=policy)


@pytest.fixture
def clock() -> FakeClock:
    """A clock the test moves forward, so backoff needs no sleeping."""
    return FakeClock()


@pytest.fixture
def dispatcher(
    event_store: EventStore, delivery_store: DeliveryStore, clock: FakeClock
) -> Iterator[Dispatcher]:
    worker = Dispatcher(event_store, delivery_store, clock)
    yield worker
    worker.close()


def test_a_signature_verifies_only_with_the_secret_the_body_and_a_fresh_timestamp() -> None:
    body = b'{"batch":[]}'
    signature = sign(SECRET, 1_800_000_000, body)
    assert signature.startswith("sha256=")
    assert verify_signature(SECRET, body, "1800000000", signature, now=1_800_000_010)
    assert not verify_signature("other", body, "1800000000", signature, now=1_800_000_010)
    assert not verify_signature(SECRET, b'{"batch":[1]}', "1800000000", signature, 1_800_000_010)
    assert not verify_signature(SECRET, body, "1800000000", signature, now=1_800_001_000)


def test_context_traits_are_removed_and_nothing_else() -> None:
    message = track(1)
    outgoing = without_context_traits(message)
    assert outgoing["context"] == {"library": {"name": "x"}}
    assert outgoing["properties"] == message["properties"]
    assert message["context"]["traits"] == {"plan_id": "Paid, Tier 2"}


def test_delivered_batches_are_signed_and_carry_no_context_traits(
    receiver: Receiver,
    append: Append,
    delivery_store: DeliveryStore,
    dispatcher: Dispatcher,
    clock: FakeClock,
) -> None:
    """The seed: traits in context "do not appear in your downstream tools"."""
    receiver.start()
    delivery_store.add(webhook(receiver.url), 0, 0.0)
    append([track(1), track(2)])
    assert dispatcher.step()

    (request,) = receiver.requests
    assert verify_signature(
        SECRET,
        request.body,
        request.headers["X-Audience-Timestamp"],
        request.headers["X-Audience-Signature"],
        now=clock.now().timestamp(),
    )
    assert [message["messageId"] for message in request.batch] == ["m-1", "m-2"]
    assert all("traits" not in message["context"] for message in request.batch)
    assert request.batch[0]["properties"]["emailCampaign"] == "First Touch"


def test_a_receiver_answering_500_gets_the_same_batch_again_after_the_backoff(
    receiver: Receiver,
    append: Append,
    delivery_store: DeliveryStore,
    dispatcher: Dispatcher,
    clock: FakeClock,
) -> None:
    receiver.answers = [500, 503]
    receiver.start()
    delivery_store.add(webhook(receiver.url), 0, 0.0)
    append([track(1), track(2)])

    assert dispatcher.step()  # 500
    assert not dispatcher.step()  # waiting for the backoff
    stats = delivery_store.stats("hook")
    assert (stats.pending_events, stats.delivered_events) == (2, 0)
    assert stats.last_error == "the receiver answered 500"
    clock.advance(1.0)
    assert dispatcher.step()  # 503
    clock.advance(1.9)
    assert not dispatcher.step()  # the second backoff is twice as long
    clock.advance(0.1)
    assert dispatcher.step()  # 200

    assert receiver.message_ids() == ["m-1", "m-2"]
    stats = delivery_store.stats("hook")
    assert (stats.pending_events, stats.delivered_events, stats.dead_events) == (0, 2, 0)


@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_a_receiver_asking_to_retry_after_a_while_gets_the_batch_only_then(
    receiver: Receiver,
    append: Append,
    delivery_store: DeliveryStore,
    dispatcher: Dispatcher,
    clock: FakeClock,
    form: str,
) -> None:
    """``Retry-After`` as delay-seconds or as an HTTP-date lengthens the 1 s backoff to 5 s."""
    wait = timedelta(seconds=5)
    receiver.answers = [503]
    receiver.retry_after = "5" if form == "seconds" else format_datetime(clock.now() + wait, True)
    receiver.start()
    delivery_store.add(webhook(receiver.url), 0, 0.0)
    append([track(1)])

    assert dispatcher.step()  # 503, Retry-After
    clock.advance(4.9)
    assert not dispatcher.step()
    assert receiver.message_ids() == []
    clock.advance(0.1)
    assert dispatcher.step()
    assert receiver.message_ids() == ["m-1"]


def test_nothing_is_lost_while_the_receiver_is_down_for_a_while(
    receiver: Receiver,
    append: Append,
    event_store: EventStore,
    delivery_store: DeliveryStore,
) -> None:
    """Events keep arriving while the port is closed; all of them arrive once it opens."""
    delivery_store.add(webhook(receiver.url, initial_backoff=0.05, max_backoff=0.2), 0, 0.0)
    dispatcher = Dispatcher(event_store, delivery_store, SystemClock())
    worker = BackgroundDispatcher(dispatcher, idle_interval=0.05)
    worker.start()
    try:
        append([track(n) for n in range(1, 151)])
        wait_for(lambda: delivery_store.stats("hook").last_error is not None, seconds=60)
        append([track(n) for n in range(151, 301)])
        wait_for(lambda: open_batch_attempts(delivery_store) >= 3, seconds=60)
        receiver.start()
        wait_for(lambda: delivery_store.stats("hook").delivered_events == 300, seconds=60)
    finally:
        worker.stop()

    assert sorted(receiver.message_ids()) == sorted(f"m-{n}" for n in range(1, 301))
    stats = delivery_store.stats("hook")
    assert (stats.pending_events, stats.dead_events, stats.cursor) == (0, 0, 300)


OUTAGE_SECONDS = 600
STEP_SECONDS = 15
EVENTS_PER_STEP = 5


def test_nothing_is_lost_while_the_receiver_is_down_for_minutes_and_the_dispatcher_restarts(
    receiver: Receiver,
    append: Append,
    event_store: EventStore,
    delivery_store: DeliveryStore,
    open_delivery_store: Callable[[], DeliveryStore],
    clock: FakeClock,
) -> None:
    """Ten minutes of clock time with the port closed: backoff reaches its cap, events keep
    arriving, the dispatcher is restarted halfway; once the port opens every event arrives once."""
    max_backoff = 60.0
    config = webhook(receiver.url, max_attempts=1000, batch_size=50, max_backoff=max_backoff)
    delivery_store.add(config, 0, 0.0)
    restarted_store = open_delivery_store()
    workers = [
        BackgroundDispatcher(Dispatcher(event_store, store, clock), idle_interval=0.02)
        for store in (delivery_store, restarted_store)
    ]
    waits: set[float] = set()

    def retried_up_to_now() -> bool:
        batch = delivery_store.next_batch("hook")
        return batch is not None and batch.next_attempt_at > clock.now().timestamp()

    sent = 0
    workers[0].start()
    try:
        for step in range(OUTAGE_SECONDS // STEP_SECONDS):
            if step == OUTAGE_SECONDS // STEP_SECONDS // 2:
                workers[0].stop()
                workers[1].start()
            append([track(n) for n in range(sent + 1, sent + EVENTS_PER_STEP + 1)])
            sent += EVENTS_PER_STEP
            wait_for(retried_up_to_now, seconds=60)
            batch = delivery_store.next_batch("hook")
            assert batch is not None
            waits.add(batch.next_attempt_at - clock.now().timestamp())
            clock.advance(STEP_SECONDS)
        stats = delivery_store.stats("hook")
        assert (stats.delivered_events, stats.dead_events) == (0, 0)
        assert stats.last_error is not None
        assert max(waits) == max_backoff
        open_batch = delivery_store.next_batch("hook")
        assert open_batch is not None
        assert open_batch.attempts >= 10

        receiver.start()
        clock.advance(max_backoff)
        wait_for(lambda: delivery_store.stats("hook").delivered_events == sent, seconds=60)
    finally:
        for worker in workers:
            worker.stop()
        restarted_store.close()

    assert sorted(receiver.message_ids()) == sorted(f"m-{n}" for n in range(1, sent + 1))
    stats = delivery_store.stats("hook")
    assert (stats.pending_events, stats.dead_events, stats.cursor) == (0, 0, sent)


def open_batch_attempts(store: DeliveryStore) -> int:
    batch = store.next_batch("hook")
    return 0 if batch is None else batch.attempts


def test_a_batch_is_dead_lettered_after_the_configured_attempts_and_replay_delivers_it(
    receiver: Receiver,
    append: Append,
    delivery_store: DeliveryStore,
    dispatcher: Dispatcher,
    clock: FakeClock,
    location: list[str],
) -> None:
    receiver.answers = [500, 500, 500]
    receiver.start()
    delivery_store.add(webhook(receiver.url, max_attempts=3, batch_size=2), 0, 0.0)
    append([track(1), track(2), track(3)])

    for _ in range(3):
        assert dispatcher.step()
        clock.advance(10)
    stats = delivery_store.stats("hook")
    assert (stats.dead_batches, stats.dead_events) == (1, 2)
    assert dispatcher.step()  # the destination moves on past the dead letter
    assert receiver.message_ids() == ["m-3"]

    arguments = ["destinations", "status", "hook", *location]
    listed = CliRunner().invoke(main, arguments)
    assert "dead letter: batch 1, 2 events (log positions 1-2), 3 attempts" in listed.output
    assert "the receiver answered 500" in listed.output

    result = CliRunner().invoke(main, ["destinations", "replay", "hook", *location])

    assert result.exit_code == 0, result.output
    assert "2 events delivered" in result.output
    assert sorted(receiver.message_ids()) == ["m-1", "m-2", "m-3"]
    stats = delivery_store.stats("hook")
    assert (stats.dead_batches, stats.delivered_events) == (0, 3)


def test_a_replay_that_fails_again_keeps_the_dead_letter(
    receiver: Receiver,
    append: Append,
    delivery_store: DeliveryStore,
    dispatcher: Dispatcher,
    location: list[str],
) -> None:
    delivery_store.add(webhook(receiver.url, max_attempts=1), 0, 0.0)  # the port is closed
    append([track(1)])
    assert dispatcher.step()
    assert delivery_store.stats("hook").dead_events == 1

    result = CliRunner().invoke(main, ["destinations", "replay", "hook", *location])

    assert result.exit_code == 1
    assert "failed again" in result.output
    assert delivery_store.stats("hook").dead_events == 1


def test_a_4xx_answer_dead_letters_the_batch_at_once(
    receiver: Receiver,
    append: Append,
    delivery_store: DeliveryStore,
    dispatcher: Dispatcher,
) -> None:
    receiver.answers = [400]
    receiver.start()
    delivery_store.add(webhook(receiver.url), 0, 0.0)
    append([track(1)])
    assert dispatcher.step()
    stats = delivery_store.stats("hook")
    assert (stats.dead_events, stats.last_error) == (1, "the receiver answered 400")


def test_a_destination_for_one_source_gets_only_that_sources_events(
    receiver: Receiver,
    append: Append,
    delivery_store: DeliveryStore,
    dispatcher: Dispatcher,
) -> None:
    receiver.start()
    config = webhook(receiver.url)
    delivery_store.add(
        DestinationConfig(config.name, config.kind, config.options, source="web"), 0, 0.0
    )
    append([track(1)], source="web")
    append([track(2)], source="ios")
    append([track(3)], source="web")
    for _ in range(10):
        dispatcher.step()
    assert receiver.message_ids() == ["m-1", "m-3"]
    assert delivery_store.cursor("hook") == 3


def test_a_receiver_that_hangs_does_not_hold_up_other_destinations(
    receiver: Receiver,
    append: Append,
    event_store: EventStore,
    delivery_store: DeliveryStore,
) -> None:
    hanging = Receiver(gate=threading.Event())
    hanging.start()
    receiver.start()
    try:
        slow = webhook(hanging.url)
        delivery_store.add(DestinationConfig("slow", "webhook", slow.options), 0, 0.0)
        delivery_store.add(webhook(receiver.url), 0, 0.0)
        worker = BackgroundDispatcher(
            Dispatcher(event_store, delivery_store, SystemClock()), idle_interval=0.05
        )
        worker.start()
        try:
            append([track(1), track(2)])
            wait_for(lambda: hanging.started == 1, seconds=60)
            append([track(3)])
            wait_for(lambda: len(receiver.message_ids()) == 3, seconds=60)
            assert hanging.requests == []  # still waiting for its first answer
            assert hanging.gate is not None
            hanging.gate.set()
            wait_for(lambda: delivery_store.stats("slow").delivered_events == 3, seconds=60)
        finally:
            worker.stop()
    finally:
        if hanging.gate is not None:
            hanging.gate.set()
        hanging.stop()
    assert hanging.message_ids() == ["m-1", "m-2", "m-3"]


def test_replay_with_queue_hands_dead_letters_back_to_the_worker(
    receiver: Receiver,
    append: Append,
    delivery_store: DeliveryStore,
    dispatcher: Dispatcher,
    clock: FakeClock,
    location: list[str],
) -> None:
    receiver.answers = [500]
    receiver.start()
    delivery_store.add(webhook(receiver.url, max_attempts=1), 0, 0.0)
    append([track(1)])
    assert dispatcher.step()
    assert delivery_store.stats("hook").dead_events == 1

    arguments = ["destinations", "replay", "hook", "--queue", *location]
    result = CliRunner().invoke(main, arguments)

    assert result.exit_code == 0, result.output
    assert receiver.message_ids() == []  # nothing is sent by the command itself
    clock.set(datetime.now(UTC))  # the command put the batch in line on the real clock
    assert dispatcher.step()
    assert receiver.message_ids() == ["m-1"]
    assert delivery_store.stats("hook").dead_events == 0


def test_a_batch_larger_than_the_body_limit_goes_out_in_several_signed_requests(
    receiver: Receiver,
    append: Append,
    delivery_store: DeliveryStore,
    dispatcher: Dispatcher,
    clock: FakeClock,
) -> None:
    receiver.start()
    options = {"url": receiver.url, "secret": SECRET, "max_body_bytes": 2000}
    delivery_store.add(DestinationConfig("hook", "webhook", options), 0, 0.0)
    append([track(n) for n in range(1, 11)])
    assert dispatcher.step()

    assert len(receiver.requests) > 1
    assert all(len(request.body) <= 2000 for request in receiver.requests)
    assert receiver.message_ids() == [f"m-{n}" for n in range(1, 11)]
    names = [request.headers["X-Audience-Batch"] for request in receiver.requests]
    assert names == [f"hook-1.{part}" for part in range(1, len(names) + 1)]
    for request in receiver.requests:
        assert verify_signature(
            SECRET,
            request.body,
            request.headers["X-Audience-Timestamp"],
            request.headers["X-Audience-Signature"],
            now=clock.now().timestamp(),
        )


@pytest.mark.parametrize(
    ("integrations", "delivered"),
    [
        (None, True),
        ({}, True),
        ({"All": True}, True),
        ({"crm": False}, False),
        ({"All": False}, False),
        ({"All": False, "crm": True}, True),
        ({"All": False, "crm": {"listId": 3}}, True),
        ({"Mixpanel": False}, True),
    ],
)
def test_a_webhook_follows_the_integrations_object_of_each_event(
    integrations: dict[str, object] | None, delivered: bool
) -> None:
    message = track(1) if integrations is None else track(1, integrations=integrations)
    event = StoredEvent(1, "web", message)
    hook = DestinationConfig("crm", "webhook", {"url": "http://127.0.0.1:9/", "secret": "k"})
    lake = DestinationConfig("lake", "duckdb", {"path": "lake.duckdb"})
    assert hook.accepts(event) is delivered
    assert lake.accepts(event)  # warehouses store every event


def test_a_webhook_keeps_one_connection_from_batch_to_batch_while_events_keep_coming(
    append: Append, event_store: EventStore, delivery_store: DeliveryStore
) -> None:
    receiver = Receiver(keep_alive=True)
    receiver.start()
    delivery_store.add(webhook(receiver.url), 0, 0.0)
    worker = BackgroundDispatcher(Dispatcher(event_store, delivery_store, SystemClock()), 0.02)
    worker.start()
    try:
        for first in (1, 11, 21):
            append([track(n) for n in range(first, first + 10)])
            wait_for(lambda last=first + 9: len(receiver.message_ids()) == last, seconds=30)
    finally:
        worker.stop()
        receiver.stop()

    assert receiver.message_ids() == [f"m-{n}" for n in range(1, 31)]
    assert len({request.peer for request in receiver.requests}) == 1


def test_a_quiet_webhook_lets_its_connection_go_and_opens_a_new_one_for_the_next_events(
    append: Append, event_store: EventStore, delivery_store: DeliveryStore
) -> None:
    receiver = Receiver(keep_alive=True)
    receiver.start()
    delivery_store.add(webhook(receiver.url), 0, 0.0)
    dispatcher = Dispatcher(event_store, delivery_store, SystemClock())
    worker = BackgroundDispatcher(dispatcher, 0.02, quiet_close_after=0.1)
    worker.start()
    try:
        append([track(1)])
        wait_for(lambda: len(receiver.requests) == 1, seconds=30)
        threading.Event().wait(0.5)
        append([track(2)])
        wait_for(lambda: len(receiver.requests) == 2, seconds=30)
    finally:
        worker.stop()
        receiver.stop()

    assert receiver.message_ids() == ["m-1", "m-2"]
    assert receiver.requests[0].peer != receiver.requests[1].peer


def test_a_flow_of_small_commits_is_delivered_in_a_few_batches_rather_than_one_each(
    receiver: Receiver, append: Append, event_store: EventStore, delivery_store: DeliveryStore
) -> None:
    receiver.start()
    delivery_store.add(webhook(receiver.url), 0, 0.0)
    dispatcher = Dispatcher(event_store, delivery_store, SystemClock())
    worker = BackgroundDispatcher(dispatcher, idle_interval=0.02, gather=0.2)
    worker.start()
    try:
        for n in range(1, 41):
            append([track(n)])
            worker.wake()
            threading.Event().wait(0.01)
        wait_for(lambda: len(receiver.message_ids()) == 40, seconds=30)
    finally:
        worker.stop()

    assert receiver.message_ids() == [f"m-{n}" for n in range(1, 41)]
    assert len(receiver.requests) <= 20
