"""A collector on the log answers 200 only once JetStream acknowledged every event; a resend
within the window is acknowledged as a duplicate and stored once."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from log.log_support import (
    batch_of,
    log_server,
    metric,
    send,
    stored_ids,
    stream_messages,
)
from support import AudienceServer, audience_command, wait_for
from support.nats_servers import NatsServer


def test_a_collector_on_the_log_answers_200_once_every_event_is_in_the_stream_and_stores_it(
    tmp_path: Path, nats: NatsServer, database: str
) -> None:
    with log_server(tmp_path, "all", nats.url, "all", database=database) as server:
        first = send(server.url, batch_of("acked", 0, 25))
        assert first.status_code == 200
        # The stream has every event of the answered request before the writer stores them.
        assert stream_messages(nats.url) == 25
        wait_for(lambda: len(stored_ids(database)) == 25, 30, "the writer storing the batch")
        assert set(stored_ids(database).values()) == {1}


def test_a_resend_within_the_window_is_counted_as_a_duplicate_and_stored_once(
    tmp_path: Path, nats: NatsServer, database: str
) -> None:
    batch = batch_of("resent", 0, 10)
    with log_server(tmp_path, "all", nats.url, "all", database=database) as server:
        assert send(server.url, batch).status_code == 200
        assert send(server.url, batch).status_code == 200
        metrics = httpx.get(f"{server.url}/metrics").text
        assert metric(metrics, 'audience_events_stored_total{source="web"}') == 10
        assert metric(metrics, 'audience_events_duplicate_total{source="web"}') == 10
        assert stream_messages(nats.url) == 10
        wait_for(lambda: len(stored_ids(database)) == 10, 30, "the writer storing the batch")
        assert set(stored_ids(database).values()) == {1}


def test_readyz_and_metrics_tell_the_log_is_reachable_and_each_partition_s_pending_messages(
    tmp_path: Path, nats: NatsServer, database: str
) -> None:
    server = log_server(tmp_path, "all", nats.url, "all", database=database, partitions="2")
    with server:
        assert send(server.url, batch_of("ready", 0, 5)).status_code == 200
        wait_for(lambda: len(stored_ids(database)) == 5, 30, "the writer storing the batch")

        def drained() -> dict[str, object] | None:
            body = httpx.get(f"{server.url}/readyz").json()
            pending = body["log"]["pendingByPartition"]
            return body if pending == {"0": 0, "1": 0} else None

        body = wait_for(drained, 30, "readyz showing every partition written")
        assert body["status"] == "ready"
        assert body["log"]["reachable"] is True
        assert body["log"]["servers"] == [nats.url]
        metrics = httpx.get(f"{server.url}/metrics").text
        assert metric(metrics, "audience_log_reachable") == 1
        assert 'audience_log_pending_messages{partition="1"} 0.0' in metrics


@pytest.mark.parametrize("role", ["collector", "writer"])
def test_a_role_other_than_all_without_a_log_is_refused_naming_the_setting(
    tmp_path: Path, role: str
) -> None:
    server = AudienceServer(tmp_path / "data", tmp_path / "serve.log")
    command = [*audience_command(), *server.serve_args(), "--role", role]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode == 2
    assert f"role: {role} needs log" in completed.stderr
