"""A dispatcher process killed in the middle of a delivery loses nothing when it restarts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from audience.destinations.base import DestinationConfig, DestinationPolicy
from audience.destinations.delivery_store import DeliveryStore
from support import Receiver, wait_for

from .conftest import Append, track

AUDIENCE = str(Path(sys.executable).parent / "audience")
EVENTS = 200
BATCH = 10


@pytest.fixture
def start_dispatcher(location: list[str]) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        command = [AUDIENCE, "destinations", "run", *location]
        process = subprocess.Popen(
            [*command, "--idle-interval", "0.05"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "AUDIENCE_LOG_LEVEL": "warning"},
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def test_a_dispatcher_killed_while_sending_delivers_every_event_after_a_restart(
    receiver: Receiver,
    append: Append,
    delivery_store: DeliveryStore,
    start_dispatcher: Callable[[], subprocess.Popen[bytes]],
) -> None:
    receiver.delay = 0.2
    receiver.start()
    delivery = DestinationPolicy(initial_backoff=0.05, max_backoff=0.5, batch_size=BATCH)
    options = {"url": receiver.url, "secret": "k"}
    config = DestinationConfig("hook", "webhook", options, delivery=delivery)
    delivery_store.add(config, 0, 0.0)
    append([track(n) for n in range(1, EVENTS + 1)])

    first = start_dispatcher()
    wait_for(
        lambda: len(receiver.requests) >= 3 and receiver.started > len(receiver.requests),
        seconds=90,
    )
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    killed_at = delivery_store.stats("hook")
    assert killed_at.delivered_events < EVENTS
    assert killed_at.pending_batches == 1  # the batch in flight is still open

    second = start_dispatcher()
    wait_for(lambda: delivery_store.stats("hook").delivered_events >= EVENTS - BATCH, seconds=90)
    wait_for(lambda: delivery_store.stats("hook").cursor == EVENTS, seconds=90)
    wait_for(lambda: delivery_store.stats("hook").pending_batches == 0, seconds=90)
    second.send_signal(signal.SIGTERM)
    assert second.wait(30) == 0

    received = Counter(receiver.message_ids())
    assert set(received) == {f"m-{n}" for n in range(1, EVENTS + 1)}
    duplicates = [message_id for message_id, count in received.items() if count > 1]
    assert len(duplicates) <= BATCH  # only the batch in flight can arrive twice
    assert all(count <= 2 for count in received.values())
