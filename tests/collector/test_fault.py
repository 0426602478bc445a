"""Durability: a 2xx means committed, even when the server is killed mid-stream."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
from collector_support import ADMIN_TOKEN

from audience.storage.sqlite_events import SqliteEventStore
from support import AudienceServer

CLIENTS = 8
EVENTS_PER_BATCH = 50
MAX_BATCHES_PER_CLIENT = 400


def message_ids(client: int, number: int) -> list[str]:
    return [f"c{client}-b{number}-e{index}" for index in range(EVENTS_PER_BATCH)]


def batch_body(write_key: str, ids: list[str]) -> dict[str, object]:
    events = [{"type": "track", "userId": "u", "event": "Fault", "messageId": i} for i in ids]
    return {"writeKey": write_key, "batch": events}


def stored_ids(data_dir: Path) -> list[str]:
    with SqliteEventStore.open(data_dir / "events.sqlite3") as store:
        return [event.message["messageId"] for event in store.read_after(0, 1_000_000)]


def write_key_of(server: AudienceServer) -> str:
    line = next(row for row in server.log().splitlines() if row.startswith("write key:"))
    return line.split()[2]


def test_every_acknowledged_event_survives_a_sigkill_and_none_is_stored_twice(
    tmp_path: Path,
) -> None:
    server = AudienceServer(tmp_path / "data", tmp_path / "serve.log", admin_token=ADMIN_TOKEN)
    server.start()
    write_key = write_key_of(server)
    acknowledged: set[str] = set()
    sent: list[list[str]] = []
    lock = threading.Lock()

    def send(client: int) -> None:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            for number in range(MAX_BATCHES_PER_CLIENT):
                ids = message_ids(client, number)
                with lock:
                    sent.append(ids)
                try:
                    response = http.post("/v1/batch", json=batch_body(write_key, ids))
                except httpx.TransportError:
                    return
                if response.status_code == 200:
                    with lock:
                        acknowledged.update(ids)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with lock:
            if len(acknowledged) >= 40 * EVENTS_PER_BATCH:
                break
        time.sleep(0.01)
    server.kill()
    for thread in threads:
        thread.join(timeout=30)
    assert len(acknowledged) >= 40 * EVENTS_PER_BATCH
    assert acknowledged <= set(stored_ids(server.data_dir))

    restarted = AudienceServer(server.data_dir, tmp_path / "restart.log", admin_token=ADMIN_TOKEN)
    restarted.start()
    try:
        with httpx.Client(base_url=restarted.url, timeout=30) as http:
            for ids in sent:
                assert http.post("/v1/batch", json=batch_body(write_key, ids)).status_code == 200
    finally:
        restarted.stop()
    stored = stored_ids(server.data_dir)
    assert len(stored) == len(set(stored)) == len(sent) * EVENTS_PER_BATCH
