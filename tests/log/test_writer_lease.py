"""One writer at a time: a second writer waits as a standby and takes over when the first dies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from audience.log.lease import WriterLease
from audience.log.link import LogOptions, NatsLink
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
    assert acked <= set(stored) <= set(traffic.sent)
    assert set(stored.values()) == {1}


class Stopwatch:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_only_one_of_two_leases_is_held_and_a_holder_that_cannot_renew_lets_go_before_expiry(
    nats: NatsServer,
) -> None:
    link = NatsLink(LogOptions((nats.url,), prefix="lease"))
    link.open()
    try:
        wait_for(lambda: link.health().reachable, 30, "the link connected")
        stopwatch = Stopwatch()
        first = WriterLease(link, "first", seconds=3.0, monotonic=stopwatch)
        second = WriterLease(link, "second", seconds=3.0, monotonic=stopwatch)
        link.submit(first.renew()).result(10)
        link.submit(second.renew()).result(10)
        assert (first.state(), second.state()) == ("holder", "standby")

        link.submit(first.renew()).result(10)  # renewed: still the holder
        assert first.held()
        nats.kill()
        stopwatch.now = 2.1  # past two thirds of the lease since the last renewal that worked
        link.submit(first.renew()).result(10)
        assert not first.held()
        nats.start()  # let the link close on a connection, not in the middle of reconnecting
        wait_for(lambda: link.health().reachable, 30, "the link connected again")
    finally:
        link.close()
