"""Appenders of many connections commit at once; readers still see the log in seq order."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import orjson
import psycopg
import pytest

from audience.errors import StorageError
from audience.storage.base import EventRecord
from audience.storage.postgres_events import PostgresEventStore
from audience.storage.postgres_order import draw_seqs, horizon, horizon_of
from postgres_db import fresh_schema

INSERT_DRAWN = (
    "INSERT INTO events (seq, source, message_id, type, received_at, message) "
    "SELECT %s::bigint + g, 'web', %s || '-' || g, 'track', '2026-12-07T12:00:00.000Z', "
    "convert_to('{\"messageId\": \"' || %s || '-' || g || '\"}', 'UTF8') "
    "FROM generate_series(0, %s - 1) AS g"
)


def record(message_id: str) -> EventRecord:
    body = {"type": "track", "event": "E", "messageId": message_id}
    return EventRecord(
        "web",
        message_id,
        "track",
        None,
        "a1",
        "E",
        "2026-12-07T12:00:00.000Z",
        None,
        None,
        orjson.dumps(body),
    )


@pytest.fixture
def database() -> Iterator[str]:
    with fresh_schema() as url:
        PostgresEventStore.open(url).close()
        yield url


class Appender:
    """One connection's appending transaction, held open between the draw and the commit."""

    def __init__(self, url: str, name: str, rows: int) -> None:
        self.connection = psycopg.connect(url, autocommit=True)
        self.name = name
        self.rows = rows
        self._transaction: Any = None

    def draw(self) -> int:
        self._transaction = self.connection.transaction()
        self._transaction.__enter__()
        first = draw_seqs(self.connection, self.rows)
        self.connection.execute(INSERT_DRAWN, (first, self.name, self.name, self.rows))
        return first

    def commit(self) -> None:
        self._transaction.__exit__(None, None, None)

    def abort(self) -> None:
        self._transaction.__exit__(RuntimeError, RuntimeError("abandoned"), None)

    def close(self) -> None:
        self.connection.close()


def follow(store: PostgresEventStore, position: int) -> list[int]:
    return [event.seq for event in store.read_after(position, 1_000)]


def test_a_fresh_log_has_nothing_below_its_horizon_and_its_first_event_is_readable(
    database: str,
) -> None:
    with PostgresEventStore.open(database) as store:
        assert store.last_seq() == 0
        assert store.read_after(0, 10) == []
        store.append([record("m1")]).result()
        assert [event.message["messageId"] for event in store.read_after(0, 10)] == ["m1"]
        assert store.last_seq() == 1


def test_an_append_commits_while_another_appenders_transaction_is_still_open(
    database: str,
) -> None:
    slow = Appender(database, "slow", 3)
    try:
        slow_first = slow.draw()
        with PostgresEventStore.open(database) as store:
            result = store.append([record("fast")]).result(timeout=60)
            assert result.stored == 1
            # The open transaction's seqs come first: nothing after them is shown yet.
            assert store.read_after(0, 10) == []
            assert store.last_seq() == 0
            slow.commit()
            assert follow(store, 0) == [slow_first, slow_first + 1, slow_first + 2, slow_first + 3]
            assert store.last_seq() == slow_first + 3
    finally:
        slow.close()


def test_an_appender_that_aborts_after_drawing_leaves_a_gap_and_holds_no_reader_back(
    database: str,
) -> None:
    with PostgresEventStore.open(database) as store:
        store.append([record("before")]).result()
        aborted = Appender(database, "aborted", 5)
        try:
            first = aborted.draw()
            store.append([record("after")]).result()
            assert follow(store, 0) == [1]
            aborted.abort()
            assert follow(store, 0) == [1, first + 5]
            assert store.last_seq() == first + 5
        finally:
            aborted.close()


def test_an_appender_whose_backend_is_killed_after_drawing_holds_no_reader_back(
    database: str,
) -> None:
    with PostgresEventStore.open(database) as store:
        killed = Appender(database, "killed", 4)
        try:
            first = killed.draw()
            store.append([record("after")]).result()
            assert follow(store, 0) == []
            with psycopg.connect(database, autocommit=True) as admin:
                pid = killed.connection.info.backend_pid
                admin.execute("SELECT pg_terminate_backend(%s, 30000)", (pid,))
            assert follow(store, 0) == [first + 4]
            store.append([record("later")]).result()
            assert follow(store, first + 4) == [first + 5]
        finally:
            killed.close()


def test_a_resent_message_draws_a_seq_it_never_uses_and_readers_pass_the_gap(
    database: str,
) -> None:
    with PostgresEventStore.open(database) as store:
        store.append([record("m1")]).result()
        again = store.append([record("m1"), record("m2")]).result()
        assert (again.stored, again.duplicates) == (1, 1)
        seqs = follow(store, 0)
        assert len(seqs) == 2
        assert store.last_seq() == seqs[-1]
        assert follow(store, seqs[-1]) == []


def test_the_horizon_from_the_low_bits_of_each_first_seq_is_the_smallest_first_seq() -> None:
    assert horizon_of(0, []) == 1
    assert horizon_of(41, [7, 30]) == 7
    # Registered after the last drawn seq was read: above it, so it holds nothing back.
    assert horizon_of(10, [12, 40]) == 11
    assert horizon_of(10, [12, 4]) == 4
    high = 5 * 2**32 + 10
    assert horizon_of(high, [(high - 3) % 2**32]) == high - 3
    assert horizon_of(high, [(high + 1) % 2**32]) == high + 1
    assert horizon_of(2**32 + 2, [2**32 - 1]) == 2**32 - 1


def test_a_reader_following_many_appenders_with_delays_sees_every_committed_row_once_in_order(
    database: str,
) -> None:
    """Appenders draw, wait a random while, then commit or abort, on their own connections,
    while a reader follows the log and asks for its newest position: the reader sees exactly
    the committed rows, each once, in increasing seq order, and neither position goes back."""
    chance = random.Random(20261207)
    appenders, rounds = 8, 12
    committed: set[int] = set()
    committed_lock = threading.Lock()
    plans = [
        [
            (chance.randint(1, 40), chance.random() * 0.02, chance.random() < 0.2)
            for _ in range(rounds)
        ]
        for _ in range(appenders)
    ]
    failures: list[BaseException] = []

    def append(number: int) -> None:
        try:
            for index, (rows, pause, aborts) in enumerate(plans[number]):
                appender = Appender(database, f"a{number}-{index}", rows)
                try:
                    first = appender.draw()
                    time.sleep(pause)
                    if aborts:
                        appender.abort()
                    else:
                        appender.commit()
                        with committed_lock:
                            committed.update(range(first, first + rows))
                finally:
                    appender.close()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=append, args=(n,)) for n in range(appenders)]
    seen: list[int] = []
    newest_positions: list[int] = []
    with PostgresEventStore.open(database) as store:
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            seen.extend(follow(store, seen[-1] if seen else 0))
            newest_positions.append(store.last_seq())
        for thread in threads:
            thread.join()
        seen.extend(follow(store, seen[-1] if seen else 0))
        newest_positions.append(store.last_seq())
    assert failures == []
    assert seen == sorted(committed)
    assert newest_positions == sorted(newest_positions)
    assert newest_positions[-1] == max(committed)


def test_the_horizon_never_goes_back_while_appenders_come_and_go(database: str) -> None:
    with psycopg.connect(database, autocommit=True) as reader:
        horizons = [horizon(reader)]
        open_ones: list[Appender] = []
        chance = random.Random(7)
        try:
            for step in range(60):
                if open_ones and chance.random() < 0.5:
                    finished = open_ones.pop(chance.randrange(len(open_ones)))
                    finished.commit() if chance.random() < 0.7 else finished.abort()
                    finished.close()
                else:
                    appender = Appender(database, f"s{step}", chance.randint(1, 5))
                    appender.draw()
                    open_ones.append(appender)
                horizons.append(horizon(reader))
        finally:
            for appender in open_ones:
                appender.abort()
                appender.close()
        horizons.append(horizon(reader))
    assert horizons == sorted(horizons)
    with psycopg.connect(database, autocommit=True) as connection:
        drawn = connection.execute("SELECT last_value FROM events_seq").fetchone()
        assert drawn is not None
        assert horizons[-1] == int(drawn[0]) + 1


def test_a_row_inserted_without_a_drawn_seq_is_refused_naming_the_column(database: str) -> None:
    with (
        psycopg.connect(database, autocommit=True) as connection,
        pytest.raises(psycopg.errors.NotNullViolation, match='column "seq"'),
    ):
        connection.execute(
            "INSERT INTO events (source, message_id, type, received_at, message) "
            "VALUES ('web', 'm1', 'track', '2026-12-07T12:00:00.000Z', '\\x7b7d')"
        )


def test_a_draw_that_fails_holding_the_draw_lock_lets_it_go_for_every_other_appender(
    database: str,
) -> None:
    with psycopg.connect(database, autocommit=True) as admin:
        admin.execute("ALTER SEQUENCE events_seq MAXVALUE 5")
        with PostgresEventStore.open(database) as failing:
            with pytest.raises(StorageError, match="could not commit events"):
                failing.append([record(f"m{n}") for n in range(10)]).result()
            admin.execute("ALTER SEQUENCE events_seq NO MAXVALUE")
            with PostgresEventStore.open(database) as other:
                assert other.append([record("other")]).result(timeout=60).stored == 1
            assert failing.append([record("again")]).result(timeout=60).stored == 1
            assert [event.message["messageId"] for event in failing.read_after(0, 10)] == [
                "other",
                "again",
            ]
