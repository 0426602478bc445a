"""One writer at a time: a second writer waits as a standby and takes over when the first dies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from log.log_support import Traffic, log_server, stored_ids
from support import wait_for
from support.audience_server import AudienceServer
from support.nats_servers import NatsServer


def lease_state(server: AudienceServer) -> Any:
    return httpx.get(f"{server.url}/readyz", timeout=10).json()["log"].get("writer")


def test_a_second_writer_waits_and_takes_over_when_the_first_is_killed_losing_nothing(
    tmp_path: Path, nats: NatsServer, database: str
) -> None:
    first = log_server(tmp_path, "first", nats.url, "writer", database=database)
    second = log_server(tmp_path, "second", nats.url, "writer", database=database)
    collector = log_server(tmp_path, "collector", nats.url, "collector", database=database)
    with first, collector, Traffic([collector.url], "lease", size=20) as traffic:
        wait_for(lambda: lease_state(first) == "holder", 30, "the first writer's lease")
        with second:
            wait_for(lambda: len(stored_ids(database)) > 200, 30, "events flowing to the store")
            assert (lease_state(first), lease_state(second)) == ("holder", "standby")
            first.kill()
            wait_for(lambda: lease_state(second) == "holder", 30, "the standby taking over")
            stored_before = len(stored_ids(database))
            wait_for(
                lambda: len(stored_ids(database)) > stored_before + 200,
                30,
                "events stored by the new holder",
            )
            traffic.stop()
            acked = set(traffic.acked)
            wait_for(
                lambda: acked <= set(stored_ids(database)), 60, "every acknowledged event stored"
            )
    stored = stored_ids(database)
    assert set(stored) == acked
    assert set(stored.values()) == {1}
