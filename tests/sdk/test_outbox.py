"""The durable outbox: nothing accepted is lost to a collector outage or a killed process."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from audience.errors import DeliveryError
from audience.sdk.batching import BatchingPolicy
from audience.sdk.outbox import MemoryOutbox, SqliteOutbox
from support import wait_for

from .conftest import FAST, MakeAnalytics
from .misbehaving_server import Answer, MisbehavingServer

EVENTS = 300

_SENDER = """
import sys, time
from audience import Analytics
from audience.sdk import DeliveryPolicy, RetryPolicy
policy = DeliveryPolicy(persist_interval=0.02, retry=RetryPolicy(base=0.02, cap=0.1), timeout=2.0)
analytics = Analytics("WRITE_KEY", host=sys.argv[1], storage_dir=sys.argv[2], delivery=policy)
for number in range(int(sys.argv[3])):
    analytics.track("Accepted", {"n": number})
print("tracked", flush=True)
time.sleep(60)
"""


def _waiting_rows(outbox: Path) -> list[dict[str, Any]]:
    if not outbox.exists():
        return []
    with sqlite3.connect(outbox) as conn:
        rows = conn.execute("SELECT body FROM entries ORDER BY id").fetchall()
    conn.close()
    return [orjson.loads(line) for row in rows for line in bytes(row[0]).split(b"\n")]


def test_a_killed_process_loses_nothing_it_accepted_and_a_restart_sends_it_with_the_same_ids(
    make_analytics: MakeAnalytics, server: MisbehavingServer, tmp_path: Path
) -> None:
    folder = tmp_path / "id"
    server.script(*[Answer(500)] * 1000)
    sender = subprocess.Popen(
        [sys.executable, "-c", _SENDER, server.url, str(folder), str(EVENTS)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sender.stdout is not None
        assert sender.stdout.readline().strip() == "tracked"
        outbox = folder / "outbox.sqlite"
        wait_for(lambda: len(_waiting_rows(outbox)) >= EVENTS, 30, "the sender's outbox writes")
        wait_for(lambda: server.received, 30, "the sender's first try")
    finally:
        sender.send_signal(signal.SIGKILL)
        sender.wait(timeout=10)
        if sender.stdout is not None:
            sender.stdout.close()
    waiting = {
        m["properties"]["n"]: m["messageId"] for m in _waiting_rows(folder / "outbox.sqlite")
    }
    assert sorted(waiting) == list(range(EVENTS))

    server.answer_normally()
    restarted = make_analytics(host=server.url, storage="disk", storage_dir=folder)
    assert restarted.flush(timeout=30)

    delivered: dict[int, set[str]] = defaultdict(set)
    for message in server.delivered():
        delivered[message["properties"]["n"]].add(message["messageId"])
    assert sorted(delivered) == list(range(EVENTS))
    assert all(ids == {waiting[n]} for n, ids in delivered.items())
    assert _waiting_rows(folder / "outbox.sqlite") == []


def test_events_accepted_during_an_outage_are_sent_when_the_collector_is_back(
    make_analytics: MakeAnalytics, server: MisbehavingServer
) -> None:
    server.script(*[Answer(503)] * 5)
    analytics = make_analytics(host=server.url, storage="disk")
    for number in range(50):
        analytics.track("During Outage", {"n": number})
    assert analytics.flush(timeout=30)
    assert sorted(m["properties"]["n"] for m in server.delivered_once()) == list(range(50))


def test_a_full_outbox_refuses_new_messages_keeps_the_old_and_reports_to_on_error(
    make_analytics: MakeAnalytics, server: MisbehavingServer
) -> None:
    refused: list[tuple[DeliveryError, list[dict[str, Any]]]] = []
    server.script(*[Answer(503)] * 1000)
    analytics = make_analytics(
        host=server.url,
        storage="disk",
        delivery=replace(FAST, max_outbox_size=5),
        on_error=lambda error, batch: refused.append((error, batch)),
    )
    for number in range(8):
        analytics.track("Queued", {"n": number})
        analytics.flush(timeout=0.05)
    server.answer_normally()
    assert analytics.flush(timeout=30)
    assert sorted(m["properties"]["n"] for m in server.delivered_once()) == [0, 1, 2, 3, 4]
    assert [m["properties"]["n"] for _, batch in refused for m in batch] == [5, 6, 7]
    assert all("full" in str(error) for error, _ in refused)


def test_the_sqlite_outbox_hands_out_the_oldest_first_and_forgets_what_is_removed(
    tmp_path: Path,
) -> None:
    outbox = SqliteOutbox(tmp_path / "outbox.sqlite", limit=10, policy=BatchingPolicy(2))
    try:
        taken, entries = outbox.append([b"1", b"2", b"3"])
        assert (taken, entries) == (3, [(1, [b"1", b"2"]), (2, [b"3"])])
        assert outbox.oldest(1) == [(1, [b"1", b"2"])]
        outbox.remove([1])
        assert outbox.oldest(10) == [(2, [b"3"])]
        assert outbox.waiting_through(2) == 1
    finally:
        outbox.close()


def test_only_one_process_at_a_time_sends_from_a_shared_outbox(tmp_path: Path) -> None:
    first = SqliteOutbox(tmp_path / "outbox.sqlite", limit=10)
    second = SqliteOutbox(tmp_path / "outbox.sqlite", limit=10)
    try:
        assert first.may_send()
        assert not second.may_send()
        first.close()
        assert second.may_send()
    finally:
        second.close()


def test_the_memory_outbox_is_bounded_too() -> None:
    outbox = MemoryOutbox(limit=2)
    taken, entries = outbox.append([b"a", b"b", b"c"])
    assert (taken, entries) == (2, [(1, [b"a", b"b"])])
    assert outbox.newest() == 1


def test_with_persist_interval_zero_a_message_is_in_the_outbox_when_track_returns(
    make_analytics: MakeAnalytics, tmp_path: Path
) -> None:
    folder = tmp_path / "id"
    analytics = make_analytics(
        host="http://127.0.0.1:9",
        storage="disk",
        storage_dir=folder,
        delivery=replace(FAST, persist_interval=0),
    )
    for number in range(3):
        analytics.track("Durable At Once", {"n": number})
        assert [m["properties"]["n"] for m in _waiting_rows(folder / "outbox.sqlite")][-1] == number


def test_with_persist_interval_zero_everything_is_still_delivered(
    make_analytics: MakeAnalytics, server: MisbehavingServer
) -> None:
    analytics = make_analytics(
        host=server.url, storage="disk", delivery=replace(FAST, persist_interval=0)
    )
    for number in range(250):
        analytics.track("Durable", {"n": number})
    assert analytics.flush(timeout=30)
    assert sorted(m["properties"]["n"] for m in server.delivered_once()) == list(range(250))
