"""The ``DeliveryStore`` contract, run over every implementation (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from audience.destinations.base import DestinationConfig
from audience.destinations.delivery_store import DeliveryStore
from audience.destinations.postgres_deliveries import PostgresDeliveryStore
from audience.destinations.sqlite_deliveries import SqliteDeliveryStore
from audience.errors import ConfigError
from postgres_db import fresh_schema

HOOK = DestinationConfig("hook", "webhook", {"url": "http://127.0.0.1:9/h", "secret": "k"})


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DeliveryStore]:
    with ExitStack() as stack:
        opened: DeliveryStore
        if request.param == "postgres":
            opened = PostgresDeliveryStore(stack.enter_context(fresh_schema()))
        else:
            opened = SqliteDeliveryStore.in_data_dir(tmp_path)
        yield opened
        opened.close()


def test_a_destination_keeps_its_settings_and_starting_cursor(store: DeliveryStore) -> None:
    store.add(HOOK, 7, now=100.0)
    assert store.configs() == [HOOK]
    assert store.config("hook") == HOOK
    assert store.cursor("hook") == 7
    with pytest.raises(ConfigError):
        store.add(HOOK, 0, now=100.0)


def test_a_claim_opens_a_batch_and_moves_the_cursor_in_one_step(store: DeliveryStore) -> None:
    store.add(HOOK, 0, now=100.0)
    batch = store.claim("hook", 0, 5, [2, 4, 5], now=100.0)
    assert batch is not None
    assert (batch.seqs, batch.attempts, batch.state) == ((2, 4, 5), 0, "pending")
    assert store.cursor("hook") == 5
    assert store.next_batch("hook") == batch


def test_a_claim_from_a_stale_cursor_changes_nothing(store: DeliveryStore) -> None:
    """Two workers reading the same cursor cannot both claim the same events."""
    store.add(HOOK, 0, now=100.0)
    assert store.claim("hook", 0, 3, [1, 2, 3], now=100.0) is not None
    assert store.claim("hook", 0, 3, [1, 2, 3], now=100.0) is None
    assert store.cursor("hook") == 3
    assert store.stats("hook").pending_batches == 1


def test_a_claim_without_events_only_moves_the_cursor(store: DeliveryStore) -> None:
    store.add(HOOK, 0, now=100.0)
    assert store.claim("hook", 0, 9, [], now=100.0) is None
    assert (store.cursor("hook"), store.next_batch("hook")) == (9, None)


def test_failures_wait_then_dead_letter_and_a_requeue_starts_over(store: DeliveryStore) -> None:
    store.add(HOOK, 0, now=100.0)
    batch = store.claim("hook", 0, 2, [1, 2], now=100.0)
    assert batch is not None
    store.failed(batch, "the receiver answered 500", now=101.0, next_attempt_at=103.0, dead=False)
    waiting = store.next_batch("hook")
    assert waiting is not None
    assert (waiting.attempts, waiting.next_attempt_at) == (1, 103.0)
    assert waiting.last_error == "the receiver answered 500"

    store.failed(waiting, "the receiver answered 500", now=103.0, next_attempt_at=107.0, dead=True)
    assert store.next_batch("hook") is None
    (dead,) = store.dead_letters("hook")
    stats = store.stats("hook")
    assert (stats.dead_batches, stats.dead_events, stats.last_error_at) == (1, 2, 103.0)

    store.requeue(dead, now=200.0)
    again = store.next_batch("hook")
    assert again is not None
    assert (again.attempts, again.next_attempt_at, again.state) == (0, 200.0, "pending")
    assert store.dead_letters("hook") == []


def test_a_delivered_batch_is_closed_and_counted(store: DeliveryStore) -> None:
    store.add(HOOK, 0, now=100.0)
    batch = store.claim("hook", 0, 3, [1, 2, 3], now=100.0)
    assert batch is not None
    store.delivered(batch, now=150.0)
    stats = store.stats("hook")
    assert store.next_batch("hook") is None
    assert (stats.delivered_events, stats.last_delivered_at, stats.pending_events) == (3, 150.0, 0)


def test_removing_a_destination_forgets_its_batches(store: DeliveryStore) -> None:
    store.add(HOOK, 0, now=100.0)
    store.claim("hook", 0, 3, [1, 2, 3], now=100.0)
    store.remove("hook")
    assert store.configs() == []
    with pytest.raises(ConfigError):
        store.cursor("hook")
    store.add(HOOK, 0, now=300.0)
    assert store.next_batch("hook") is None
    with pytest.raises(ConfigError):
        store.remove("nobody")


def test_forgotten_events_leave_pending_and_dead_lettered_batches(store: DeliveryStore) -> None:
    store.add(HOOK, 0, now=100.0)
    pending = store.claim("hook", 0, 3, [1, 2, 3], now=100.0)
    assert pending is not None
    store.failed(pending, "500", now=101.0, next_attempt_at=103.0, dead=True)
    alone = store.claim("hook", 3, 4, [4], now=104.0)
    assert alone is not None
    assert store.forget_events([2, 4, 99]) == 2
    (dead,) = store.dead_letters("hook")
    assert dead.seqs == (1, 3)
    assert store.stats("hook").dead_events == 2
    assert store.next_batch("hook") is None, "the batch left empty is gone"
    assert store.forget_events([]) == 0
