"""The writer killed -9 mid-batch and started again: every event a client got a 200 for is
stored exactly once."""

from __future__ import annotations

from pathlib import Path

from log.log_support import Traffic, batch_of, log_server, send, stored_ids
from support import wait_for
from support.nats_servers import NatsServer


def test_a_writer_killed_mid_batch_loses_nothing_acknowledged_and_stores_nothing_twice(
    tmp_path: Path, nats: NatsServer, database: str
) -> None:
    writer = log_server(tmp_path, "writer", nats.url, "writer", database=database)
    collector = log_server(tmp_path, "collector", nats.url, "collector", database=database)
    with writer, collector, Traffic([collector.url], "crash", size=50) as traffic:
        # The writer serves the operators' routes but takes no events: those go to collectors.
        assert send(writer.url, batch_of("writer", 0, 1)).status_code == 404
        for _ in range(2):
            stored_before = len(stored_ids(database))
            wait_for(
                lambda floor=stored_before + 200: len(stored_ids(database)) > floor,
                30,
                "events flowing to the store",
            )
            writer.kill()  # in the middle of a batch: events were stored, none acknowledged
            sent_before = traffic.batches
            wait_for(lambda floor=sent_before + 10: traffic.batches > floor, 30, "more traffic")
            writer.start()
        traffic.stop()
        acked = set(traffic.acked)
        wait_for(lambda: acked <= set(stored_ids(database)), 60, "every acknowledged event stored")
    stored = stored_ids(database)
    assert acked <= set(stored) <= set(traffic.sent)
    assert set(stored.values()) == {1}
