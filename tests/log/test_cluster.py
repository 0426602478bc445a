"""A three-node JetStream cluster with three replicas under two collectors: kill -9 one node,
bring it back, kill another, and every event that got a 200 is stored once and resolved."""

from __future__ import annotations

from pathlib import Path

from log.log_support import Traffic, log_server, stored_ids, unresolved
from support import wait_for
from support.nats_servers import NatsServer, log_url


def test_every_acknowledged_event_is_stored_once_and_resolved_across_node_crashes(
    tmp_path: Path, cluster: list[NatsServer], database: str
) -> None:
    servers = log_url(cluster)
    common = {"database": database, "log_replicas": "3"}
    writer = log_server(tmp_path, "writer", servers, "writer", **common)
    collectors = [
        log_server(tmp_path, f"collector-{n}", servers, "collector", **common) for n in (1, 2)
    ]
    with writer, collectors[0], collectors[1]:
        with Traffic([c.url for c in collectors], "cluster", size=10) as traffic:
            for victim in (cluster[0], cluster[1]):
                acked_before = len(traffic.acked)
                wait_for(
                    lambda floor=acked_before + 200: len(traffic.acked) > floor,
                    30,
                    "events acknowledged by the cluster",
                )
                victim.kill()
                acked_after_kill = len(traffic.acked)
                wait_for(
                    lambda floor=acked_after_kill + 200: len(traffic.acked) > floor,
                    30,
                    "events acknowledged with a node down",
                )
                victim.start()
        acked = set(traffic.acked)
        wait_for(lambda: acked <= set(stored_ids(database)), 60, "every acknowledged event stored")
        stored = stored_ids(database)
        assert set(stored.values()) == {1}
        wait_for(lambda: not unresolved(database, sorted(acked)), 60, "a profile for each")
