"""NATS down at start or killed mid-run: the tracking API answers 503 with Retry-After, never a
200 it cannot keep, and once the log is back the same request succeeds."""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path

import httpx

from audience.retry import RetryPolicy
from audience.sdk import Analytics
from audience.sdk.worker import DeliveryPolicy
from log.log_support import WRITE_KEY, batch_of, log_server, send
from support import AudienceServer, wait_for
from support.nats_servers import NatsServer


def sqlite_ids(server: AudienceServer) -> Counter[str]:
    """How many times each message id is in the server's SQLite event store."""
    with sqlite3.connect(server.data_dir / "events.sqlite3") as connection:
        rows = connection.execute("SELECT message_id FROM events").fetchall()
    return Counter(row[0] for row in rows)


def accepted(url: str, batch: list[dict[str, object]]) -> bool:
    return send(url, batch).status_code == 200


def test_a_collector_whose_log_is_down_at_start_answers_503_until_it_comes_up(
    tmp_path: Path, stopped_nats: NatsServer
) -> None:
    batch = batch_of("late", 0, 5)
    with log_server(tmp_path, "all", stopped_nats.url, "all") as server:
        refused = send(server.url, batch)
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        readiness = httpx.get(f"{server.url}/readyz")
        assert readiness.status_code == 503
        assert readiness.json()["log"]["reachable"] is False
        assert any("event log" in problem for problem in readiness.json()["problems"])

        stopped_nats.start()
        wait_for(lambda: accepted(server.url, batch), 30, "the same request accepted")
        wait_for(lambda: len(sqlite_ids(server)) == 5, 30, "the writer storing the batch")
        assert set(sqlite_ids(server).values()) == {1}


def test_a_log_killed_mid_run_gets_503_and_the_same_request_succeeds_once_it_is_back(
    tmp_path: Path, nats: NatsServer
) -> None:
    with log_server(tmp_path, "all", nats.url, "all") as server:
        assert send(server.url, batch_of("before", 0, 5)).status_code == 200
        nats.kill()
        batch = batch_of("during", 0, 5)
        refused = send(server.url, batch)
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        nats.start()  # the same store folder: the stream comes back with its messages
        wait_for(lambda: accepted(server.url, batch), 30, "the same request accepted")
        wait_for(lambda: len(sqlite_ids(server)) == 10, 30, "the writer storing both batches")
        assert set(sqlite_ids(server).values()) == {1}


def test_the_sdk_delivers_every_event_exactly_once_across_a_log_outage(
    tmp_path: Path, stopped_nats: NatsServer
) -> None:
    policy = DeliveryPolicy(timeout=10.0, retry=RetryPolicy(base=0.1, cap=0.5))
    with log_server(tmp_path, "all", stopped_nats.url, "all") as server:
        analytics = Analytics(
            WRITE_KEY, host=server.url, storage_dir=tmp_path / "sdk", delivery=policy
        )
        try:
            for number in range(30):
                analytics.track("Clicked", {"number": number})
            assert analytics.flush(timeout=2.0) is False  # every try answered 503
            assert sqlite_ids(server) == Counter()
            stopped_nats.start()
            assert analytics.flush(timeout=30.0) is True
        finally:
            analytics.shutdown(timeout=10.0)
        wait_for(lambda: len(sqlite_ids(server)) == 30, 30, "the writer storing every event")
        assert set(sqlite_ids(server).values()) == {1}
