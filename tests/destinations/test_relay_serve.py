"""A relay between two real ``audience serve`` processes, the receiver stopped mid-stream."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from support import AudienceServer, wait_for

ADMIN_TOKEN = "relay-admin-token-for-the-tests-of-relays"
SENDER_KEY = "sender-write-key"
RECEIVER_KEY = "receiver-write-key"
BATCHES = 12
PER_BATCH = 25


def batch_of(number: int) -> dict[str, Any]:
    """One client batch: ``sentAt`` a second after each ``timestamp``, so the sender corrects
    every timestamp for the client's clock and the receiver must keep the corrected one."""
    messages = [
        {
            "type": "identify" if n % 5 == 0 else "track",
            "event": "Order Completed",
            "userId": f"user-{number}-{n}",
            "anonymousId": f"anon-{number}-{n}",
            "messageId": f"m-{number}-{n}",
            "timestamp": f"2026-11-29T12:{number:02d}:{n:02d}.000Z",
            "traits": {"plan": "pro"},
            "properties": {"n": n},
            "context": {"traits": {"plan_id": "Paid, Tier 2"}},
        }
        for n in range(PER_BATCH)
    ]
    return {"batch": messages, "sentAt": f"2026-11-29T12:{number:02d}:59.000Z"}


def relay_failed(server: AudienceServer) -> bool:
    """Whether the relay of ``server`` has met the receiver down (and keeps its batch)."""
    with server.admin() as admin:
        (status,) = admin.get("/api/destinations").json()["destinations"]
    error = status["last_error"]
    return error is not None and "cannot reach" in error and status["pending_events"] > 0


def test_a_relay_to_a_collector_restarted_mid_stream_delivers_every_event_once_intact(
    tmp_path: Path,
) -> None:
    receiving = AudienceServer(
        tmp_path / "receiver",
        tmp_path / "receiver.log",
        admin_token=ADMIN_TOKEN,
        sources={"relayed": RECEIVER_KEY},
    )
    sending = AudienceServer(
        tmp_path / "sender",
        tmp_path / "sender.log",
        admin_token=ADMIN_TOKEN,
        sources={"web": SENDER_KEY},
    )
    receiving.start()
    sending.create_sources()
    relay = ["--relay", receiving.url, "--relay-key", RECEIVER_KEY, "--batch-size", "20"]
    retries = ["--initial-backoff", "0.2", "--max-backoff", "1", "--max-attempts", "10000"]
    sending.run_command(
        ["destinations", "add", "fwd", *relay, *retries, "--data", str(sending.data_dir)]
    )
    sending.start()
    try:
        with httpx.Client(base_url=sending.url, auth=(SENDER_KEY, ""), timeout=30) as client:
            for number in range(BATCHES):
                if number == BATCHES // 3:
                    with receiving.admin() as early:
                        early.wait_for_message_ids("relayed", ["m-0-0"], timeout=60)
                    receiving.stop()  # SIGTERM, mid-stream
                if number == 2 * BATCHES // 3:
                    wait_for(lambda: relay_failed(sending), 60, "a relay attempt to fail")
                    receiving.start()
                sent = client.post("/v1/batch", json=batch_of(number))
                assert sent.status_code == 200, sent.text
        ids = [f"m-{number}-{n}" for number in range(BATCHES) for n in range(PER_BATCH)]
        with sending.admin() as sender_admin, receiving.admin() as receiver_admin:
            stored = sender_admin.wait_for_message_ids("web", ids, timeout=60)
            relayed = receiver_admin.wait_for_message_ids("relayed", ids, timeout=120)
            every_relayed = receiver_admin.events("relayed", limit=1000)
    finally:
        sending.stop()
        receiving.stop()

    assert sorted(event["messageId"] for event in every_relayed) == sorted(ids)
    for message_id in ids:
        original, copy = stored[message_id], relayed[message_id]
        for field in ("type", "userId", "anonymousId", "timestamp", "traits", "properties"):
            assert copy.get(field) == original.get(field), (message_id, field)
        assert copy["context"]["traits"] == {"plan_id": "Paid, Tier 2"}
    assert stored["m-0-1"]["timestamp"] != "2026-11-29T12:00:01.000Z"  # corrected by the sender
