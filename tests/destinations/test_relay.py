"""Relay destinations: events forwarded over the tracking API to a real receiver on loopback."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from audience.cli import main
from audience.destinations.base import DestinationConfig, DestinationPolicy
from audience.destinations.delivery_store import DeliveryStore
from audience.destinations.dispatcher import Dispatcher
from audience.destinations.relay import MAX_BATCH_BYTES, relay_url
from audience.errors import ConfigError
from audience.storage.backend import EventStore
from audience.testing import FakeClock
from support import Received, Receiver

from .conftest import Append, track

WRITE_KEY = "relay-write-key"


def relay(url: str, max_attempts: int = 10, batch_size: int = 100) -> DestinationConfig:
    policy = DestinationPolicy(max_attempts, 1.0, 8.0, batch_size)
    options = {"url": url, "write_key": WRITE_KEY}
    return DestinationConfig("fwd", "relay", options, delivery=policy)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def dispatcher(
    event_store: EventStore, delivery_store: DeliveryStore, clock: FakeClock
) -> Iterator[Dispatcher]:
    worker = Dispatcher(event_store, delivery_store, clock)
    yield worker
    worker.close()


def drain(dispatcher: Dispatcher) -> None:
    while dispatcher.step():
        pass


@pytest.mark.parametrize(
    ("target", "url"),
    [
        ("segment", "https://api.segment.io/v1/batch"),
        ("customerio-us", "https://cdp.customer.io/v1/batch"),
        ("customerio-eu", "https://cdp-eu.customer.io/v1/batch"),
        (
            "rudderstack:https://acme.dataplane.rudderstack.com",
            "https://acme.dataplane.rudderstack.com/v1/batch",
        ),
        ("http://127.0.0.1:8001", "http://127.0.0.1:8001/v1/batch"),
        ("http://127.0.0.1:8001/", "http://127.0.0.1:8001/v1/batch"),
        (
            "https://collector.example.com/segment/v1/batch",
            "https://collector.example.com/segment/v1/batch",
        ),
    ],
)
def test_a_relay_target_names_the_receivers_batch_endpoint(target: str, url: str) -> None:
    assert relay_url(target) == url


@pytest.mark.parametrize("target", ["segmnet", "ftp://example.com", "rudderstack:", "http://"])
def test_a_relay_target_that_is_neither_a_preset_nor_a_url_is_refused(target: str) -> None:
    with pytest.raises(ConfigError, match="relay"):
        relay_url(target)


def test_a_relay_posts_gzipped_batches_with_its_write_key_and_the_events_as_stored(
    receiver: Receiver,
    append: Append,
    delivery_store: DeliveryStore,
    dispatcher: Dispatcher,
) -> None:
    """The receiver is a pipeline applying the seed's rule itself: ``context.traits`` travel."""
    receiver.start()
    append([track(n) for n in range(1, 4)])
    delivery_store.add(relay(receiver.url), 0, 0.0)

    drain(dispatcher)

    (request,) = receiver.requests
    assert request.headers["Content-Encoding"] == "gzip"
    expected_auth = base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected_auth}"
    messages = request.batch
    assert [m["messageId"] for m in messages] == ["m-1", "m-2", "m-3"]
    first = messages[0]
    assert first["context"]["traits"] == {"plan_id": "Paid, Tier 2"}
    assert first["timestamp"] == "2026-11-29T12:00:00.000Z"
    assert first["userId"] == "12091906-01011992"
    assert first["anonymousId"] == "a-1"
    assert "sentAt" not in first
    assert "receivedAt" not in first
    assert delivery_store.stats("fwd").delivered_events == 3


def test_a_relay_keeps_every_request_under_the_smaller_receivers_batch_limit(
    receiver: Receiver,
    append: Append,
    delivery_store: DeliveryStore,
    dispatcher: Dispatcher,
) -> None:
    receiver.start()
    filler = "x" * 20_000
    append([track(n, properties={"filler": filler}) for n in range(1, 61)])
    delivery_store.add(relay(receiver.url), 0, 0.0)

    drain(dispatcher)

    assert len(receiver.requests) >= 3
    assert all(len(request.body) <= MAX_BATCH_BYTES for request in receiver.requests)
    assert receiver.message_ids() == [f"m-{n}" for n in range(1, 61)]


def test_an_event_over_32_kb_is_dead_lettered_alone_and_the_others_are_relayed(
    receiver: Receiver,
    append: Append,
    delivery_store: DeliveryStore,
    dispatcher: Dispatcher,
) -> None:
    receiver.start()
    append([track(1), track(2, properties={"blob": "y" * 40_000}), track(3)])
    delivery_store.add(relay(receiver.url), 0, 0.0)

    drain(dispatcher)

    assert receiver.message_ids() == ["m-1", "m-3"]
    (dead,) = delivery_store.dead_letters("fwd")
    assert dead.seqs == (2,)
    assert dead.last_error is not None
    assert "over the 32768 a tracking API takes per event" in dead.last_error
    stats = delivery_store.stats("fwd")
    assert stats.pending_events == 0
    assert stats.cursor == 3
    assert stats.delivered_events == 2


def refuses_bad_events(request: Received) -> int:
    """A strict tracking API: 400 for a batch holding an event marked bad."""
    bad = any(message["properties"].get("bad") for message in request.batch)
    return 400 if bad else 200


def test_a_400_is_split_until_the_refused_event_is_alone_and_only_it_is_dead_lettered(
    receiver: Receiver,
    append: Append,
    delivery_store: DeliveryStore,
    dispatcher: Dispatcher,
) -> None:
    receiver.judge = refuses_bad_events
    receiver.start()
    append([track(n, properties={"bad": n == 7}) for n in range(1, 21)])
    delivery_store.add(relay(receiver.url), 0, 0.0)

    drain(dispatcher)

    delivered = receiver.message_ids()
    assert sorted(delivered) == sorted(f"m-{n}" for n in range(1, 21) if n != 7)
    assert len(set(delivered)) == len(delivered)
    (dead,) = delivery_store.dead_letters("fwd")
    assert dead.seqs == (7,)
    assert dead.last_error is not None
    assert "answered 400" in dead.last_error
    stats = delivery_store.stats("fwd")
    assert stats.pending_events == 0
    assert stats.delivered_events == 19
    assert stats.dead_events == 1


def test_a_wrong_write_key_dead_letters_the_whole_batch(
    receiver: Receiver,
    append: Append,
    delivery_store: DeliveryStore,
    dispatcher: Dispatcher,
) -> None:
    receiver.answers = [401]
    receiver.start()
    append([track(n) for n in range(1, 4)])
    delivery_store.add(relay(receiver.url), 0, 0.0)

    drain(dispatcher)

    (dead,) = delivery_store.dead_letters("fwd")
    assert dead.seqs == (1, 2, 3)
    assert dead.last_error is not None
    assert "answered 401" in dead.last_error
    assert receiver.requests == []


def test_a_429_waits_at_least_its_retry_after_and_the_batch_then_arrives_with_its_ids(
    receiver: Receiver,
    append: Append,
    delivery_store: DeliveryStore,
    dispatcher: Dispatcher,
    clock: FakeClock,
) -> None:
    receiver.answers = [429]
    receiver.retry_after = "5"
    receiver.start()
    append([track(n) for n in range(1, 3)])
    delivery_store.add(relay(receiver.url), 0, 0.0)

    dispatcher.step()
    batch = delivery_store.next_batch("fwd")
    assert batch is not None
    assert batch.next_attempt_at >= clock.now().timestamp() + 5
    clock.advance(4)
    assert not dispatcher.step()
    clock.advance(2)
    drain(dispatcher)

    assert receiver.message_ids() == ["m-1", "m-2"]
    assert delivery_store.dead_letters("fwd") == []


def test_an_unreachable_receiver_keeps_the_batch_pending_for_a_retry(
    receiver: Receiver,
    append: Append,
    delivery_store: DeliveryStore,
    dispatcher: Dispatcher,
    clock: FakeClock,
) -> None:
    append([track(1)])
    delivery_store.add(relay(receiver.url), 0, 0.0)

    dispatcher.step()
    stats = delivery_store.stats("fwd")
    assert stats.pending_events == 1
    assert stats.last_error is not None
    assert "cannot reach" in stats.last_error

    receiver.start()
    clock.advance(2)
    drain(dispatcher)
    assert receiver.message_ids() == ["m-1"]


def test_a_relay_skips_only_the_events_whose_integrations_turn_its_own_name_off(
    receiver: Receiver,
    append: Append,
    delivery_store: DeliveryStore,
    dispatcher: Dispatcher,
) -> None:
    """The rest of ``integrations`` is for the receiving pipeline's destinations."""
    receiver.start()
    off: dict[str, Any] = {"fwd": False}
    only_crm: dict[str, Any] = {"All": False, "crm": True}
    append([track(1, integrations=off), track(2, integrations=only_crm), track(3)])
    delivery_store.add(relay(receiver.url), 0, 0.0)

    drain(dispatcher)

    assert receiver.message_ids() == ["m-2", "m-3"]
    assert receiver.requests[0].batch[0]["integrations"] == only_crm


def test_destinations_add_relay_stores_the_presets_endpoint_and_hides_the_write_key(
    location: list[str],
) -> None:
    def run(*arguments: str) -> Any:
        return CliRunner().invoke(main, ["destinations", *arguments, *location])

    added = run("add", "seg", "--relay", "segment", "--relay-key", "sk-secret")
    assert added.exit_code == 0, added.output
    assert added.output == "added relay destination seg\n"
    (config,) = json.loads(run("list", "--json").output)
    assert config["kind"] == "relay"
    assert config["options"]["url"] == "https://api.segment.io/v1/batch"
    assert config["options"]["write_key"] == "***"
    assert config["options"]["max_body_bytes"] == MAX_BATCH_BYTES
    assert config["delivery"]["batch_size"] == 100
    assert config["options"]["gzip"] is True

    no_key = run("add", "other", "--relay", "customerio-eu")
    assert no_key.exit_code == 2
    assert "--relay needs --relay-key" in no_key.output
    typo = run("add", "other", "--relay", "segmnet", "--relay-key", "k")
    assert typo.exit_code == 2
    assert "neither an http(s) URL nor one of segment, customerio-us" in typo.output


def test_a_relay_without_gzip_posts_plain_json(
    receiver: Receiver,
    append: Append,
    delivery_store: DeliveryStore,
    dispatcher: Dispatcher,
) -> None:
    receiver.start()
    append([track(1)])
    config = relay(receiver.url)
    plain = DestinationConfig(
        config.name, "relay", {**config.options, "gzip": False}, delivery=config.delivery
    )
    delivery_store.add(plain, 0, 0.0)

    drain(dispatcher)

    (request,) = receiver.requests
    assert "Content-Encoding" not in request.headers
    assert receiver.message_ids() == ["m-1"]
