"""No single message can block an outbox: against a real loopback collector that chokes on one."""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson
import pytest

from audience.errors import DeliveryError, PermanentDeliveryError
from audience.sdk import Analytics, IsolationPolicy
from audience.sdk.isolation import Trouble
from support import free_port, wait_for

from .conftest import FAST, MakeAnalytics
from .misbehaving_server import Answer, MisbehavingServer

NEVER_GIVE_UP = IsolationPolicy(set_aside_after=3, give_up_after=1000, give_up_age=3600.0)
EAGER = IsolationPolicy(set_aside_after=1, give_up_after=1, give_up_age=0.0)
"""The quickest possible to set aside and give up: even so, an outage must cost nothing."""


@dataclass
class Errors:
    """What ``on_error`` was given."""

    calls: list[tuple[DeliveryError, list[dict[str, Any]]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, error: DeliveryError, messages: list[dict[str, Any]]) -> None:
        with self.lock:
            self.calls.append((error, messages))

    def events(self) -> list[str]:
        with self.lock:
            return [m["event"] for _, messages in self.calls for m in messages]


def good_numbers(server: MisbehavingServer) -> list[int]:
    return sorted(m["properties"]["n"] for m in server.delivered_once() if m["event"] == "Good")


def troubles(folder: Path) -> list[tuple[list[str], Trouble]]:
    """The failed batches waiting in an outbox: their events and their trouble."""
    with sqlite3.connect(folder / "outbox.sqlite") as conn:
        rows = conn.execute(
            "SELECT body, trouble FROM entries WHERE trouble IS NOT NULL ORDER BY id"
        ).fetchall()
    conn.close()
    return [
        (
            [orjson.loads(line)["event"] for line in bytes(body).split(b"\n")],
            Trouble.decode(bytes(trouble)),
        )
        for body, trouble in rows
    ]


# -- refused content: 400 and 413 ------------------------------------------------------------


@pytest.mark.parametrize("storage", ["memory", "disk"])
def test_a_message_refused_with_400_is_isolated_and_its_99_neighbours_are_delivered(
    make_analytics: MakeAnalytics, server: MisbehavingServer, storage: str
) -> None:
    server.fail_batches_containing("Refused Here", Answer(400))
    errors = Errors()
    analytics = make_analytics(host=server.url, storage=storage, on_error=errors)
    for number in range(100):
        analytics.track("Refused Here" if number == 37 else "Good", {"n": number})
    assert analytics.flush(timeout=30)
    assert good_numbers(server) == [n for n in range(100) if n != 37]
    [(error, messages)] = errors.calls
    assert isinstance(error, PermanentDeliveryError)
    assert error.status == 400
    assert [(m["event"], m["properties"]["n"]) for m in messages] == [("Refused Here", 37)]
    # one request at each halving of its batch: 100, 50, 25, 13, 7, 4, 2, 1 messages at most
    assert len(server.requests_holding("Refused Here")) <= 8


def test_several_refused_messages_are_each_isolated_and_only_they_are_given_up(
    make_analytics: MakeAnalytics, server: MisbehavingServer
) -> None:
    server.fail_batches_containing("Refused Here", Answer(400))
    errors = Errors()
    analytics = make_analytics(host=server.url, on_error=errors)
    refused = {3, 50, 51, 99}
    for number in range(100):
        analytics.track("Refused Here" if number in refused else "Good", {"n": number})
    assert analytics.flush(timeout=30)
    assert good_numbers(server) == [n for n in range(100) if n not in refused]
    assert sorted(m["properties"]["n"] for _, batch in errors.calls for m in batch) == sorted(
        refused
    )
    assert all(len(batch) == 1 for _, batch in errors.calls)


def test_a_batch_answered_413_is_split_until_each_part_fits(
    make_analytics: MakeAnalytics, server: MisbehavingServer
) -> None:
    server.limit_body(60_000)
    errors = Errors()
    analytics = make_analytics(host=server.url, on_error=errors)
    for number in range(100):
        analytics.track("Good", {"n": number, "blob": "x" * 2_000})
    assert analytics.flush(timeout=30)
    assert good_numbers(server) == list(range(100))
    assert errors.calls == []
    assert {r.status for r in server.received} == {200, 413}


def test_a_message_too_large_for_the_collector_on_its_own_is_the_only_one_given_up(
    make_analytics: MakeAnalytics, server: MisbehavingServer
) -> None:
    server.limit_body(20_000)
    errors = Errors()
    analytics = make_analytics(host=server.url, on_error=errors)
    for number in range(30):
        blob = "x" * (25_000 if number == 12 else 100)
        analytics.track("Good", {"n": number, "blob": blob})
    assert analytics.flush(timeout=30)
    assert good_numbers(server) == [n for n in range(30) if n != 12]
    [(error, [message])] = errors.calls
    assert (error.status, message["properties"]["n"]) == (413, 12)


# -- failures that may pass: 5xx for one message --------------------------------------------


def test_a_message_answered_500_is_set_aside_and_newer_batches_are_delivered(
    make_analytics: MakeAnalytics, server: MisbehavingServer
) -> None:
    server.fail_batches_containing("Crashes The Collector", Answer(500))
    errors = Errors()
    analytics = make_analytics(
        host=server.url, on_error=errors, delivery=replace(FAST, isolation=NEVER_GIVE_UP)
    )
    analytics.track("Crashes The Collector")
    for number in range(60):
        analytics.track("Good", {"n": number})
    wait_for(lambda: good_numbers(server) == list(range(60)), what="delivery of the 60 held back")
    for number in range(60, 400):
        analytics.track("Good", {"n": number})
    wait_for(lambda: good_numbers(server) == list(range(400)), what="delivery of the 400")
    assert errors.calls == []  # not given up before an hour
    assert analytics.flush(timeout=0.3) is False  # it still waits
    later = len(server.requests_holding("Crashes The Collector"))
    time.sleep(0.5)
    assert len(server.requests_holding("Crashes The Collector")) > later  # and is retried


def test_a_message_failing_while_others_pass_is_given_up_after_its_strikes_and_age(
    make_analytics: MakeAnalytics, server: MisbehavingServer
) -> None:
    server.fail_batches_containing("Crashes The Collector", Answer(503))
    errors = Errors()
    isolation = IsolationPolicy(set_aside_after=2, give_up_after=4, give_up_age=1.0)
    analytics = make_analytics(
        host=server.url, on_error=errors, delivery=replace(FAST, isolation=isolation)
    )
    started = time.monotonic()
    analytics.track("Crashes The Collector")
    number = 0
    while not errors.calls:  # traffic goes on: each delivery is a strike against the poison
        assert time.monotonic() - started < 30, "never given up"
        analytics.track("Good", {"n": number})
        number += 1
        time.sleep(0.01)
    assert time.monotonic() - started >= 1.0
    [(error, [message])] = errors.calls
    assert message["event"] == "Crashes The Collector"
    assert error.status == 503
    assert str(error).startswith("given up after ")
    assert analytics.flush(timeout=30)
    assert good_numbers(server) == list(range(number))
    assert len(server.requests_holding("Crashes The Collector")) >= 4


# -- the collector down: nothing given up, order kept ----------------------------------------


def test_while_every_batch_fails_nothing_is_set_aside_or_given_up_and_the_oldest_stays_first(
    make_analytics: MakeAnalytics, server: MisbehavingServer, tmp_path: Path
) -> None:
    server.script(*[Answer(503)] * 30)
    errors = Errors()
    folder = tmp_path / "outbox-folder"
    analytics = make_analytics(
        host=server.url,
        storage="disk",
        storage_dir=folder,
        on_error=errors,
        delivery=replace(FAST, concurrency=1, isolation=EAGER),
    )
    for number in range(300):
        analytics.track("Good", {"n": number})
    wait_for(lambda: len(server.received) >= 20, what="20 retries")
    [(events, trouble)] = troubles(folder)  # one failed batch, the probes beside it untouched
    assert trouble.attempts >= 5
    assert (trouble.strikes, trouble.set_aside) == (0, False)  # still first in line
    first_batch = server.received[0].batch
    assert [m["properties"]["n"] for m in first_batch][:1] == [0]
    assert len(events) == len(first_batch)
    assert analytics.flush(timeout=30)
    assert errors.calls == []
    assert good_numbers(server) == list(range(300))


def test_a_collector_down_across_a_restart_costs_nothing_and_then_gets_everything(
    make_analytics: MakeAnalytics, tmp_path: Path
) -> None:
    port = free_port()
    folder = tmp_path / "outbox-folder"
    errors = Errors()
    delivery = replace(FAST, isolation=EAGER)
    first = make_analytics(
        host=f"http://127.0.0.1:{port}",
        storage="disk",
        storage_dir=folder,
        on_error=errors,
        delivery=delivery,
    )
    for number in range(150):
        first.track("Good", {"n": number})
    assert first.flush(timeout=1.0) is False
    assert first.shutdown(timeout=0.2) is False
    second = make_analytics(
        host=f"http://127.0.0.1:{port}",
        storage="disk",
        storage_dir=folder,
        on_error=errors,
        delivery=delivery,
    )
    for number in range(150, 200):
        second.track("Good", {"n": number})
    assert second.flush(timeout=1.0) is False
    assert errors.calls == []
    late = MisbehavingServer(port)
    try:
        assert second.flush(timeout=30)
        assert good_numbers(late) == list(range(200))
        assert errors.calls == []
    finally:
        late.stop()


# -- across a restart on the same storage_dir ------------------------------------------------


def test_a_message_set_aside_stays_so_across_a_restart_and_its_strikes_count_on(
    make_analytics: MakeAnalytics, server: MisbehavingServer, tmp_path: Path
) -> None:
    server.fail_batches_containing("Crashes The Collector", Answer(500))
    folder = tmp_path / "outbox-folder"
    first = make_analytics(
        host=server.url,
        storage="disk",
        storage_dir=folder,
        delivery=replace(FAST, isolation=NEVER_GIVE_UP),
    )
    first.track("Crashes The Collector")
    number = 0

    def three_strikes() -> bool:
        waiting = troubles(folder)
        return (
            bool(waiting)
            and waiting[0][0] == ["Crashes The Collector"]
            and (waiting[0][1].strikes >= 3)
        )

    while not three_strikes():
        assert number < 3000, "never set aside"
        first.track("Good", {"n": number})
        number += 1
        time.sleep(0.01)
    assert first.shutdown(timeout=5.0) is False
    [(events, trouble)] = troubles(folder)
    assert events == ["Crashes The Collector"]
    assert trouble.set_aside
    assert good_numbers(server) == list(range(number))

    errors = Errors()
    tried_before = len(server.requests_holding("Crashes The Collector"))
    isolation = IsolationPolicy(set_aside_after=3, give_up_after=trouble.strikes + 1, give_up_age=0)
    second = make_analytics(
        host=server.url,
        storage="disk",
        storage_dir=folder,
        on_error=errors,
        delivery=replace(FAST, isolation=isolation),
    )
    while not errors.calls:
        assert number < 6000, "never given up"
        second.track("Good", {"n": number})
        number += 1
        time.sleep(0.01)
    assert errors.events() == ["Crashes The Collector"]
    # one more strike was enough: the restarted process counted on from the first one's
    assert len(server.requests_holding("Crashes The Collector")) - tried_before <= 2
    assert second.flush(timeout=30)
    assert good_numbers(server) == list(range(number))
    assert troubles(folder) == []


def test_messages_left_by_an_outage_are_sifted_by_the_next_process_when_one_is_refused(
    make_analytics: MakeAnalytics, server: MisbehavingServer, tmp_path: Path
) -> None:
    folder = tmp_path / "outbox-folder"
    server.script(*[Answer(503)] * 10_000)
    first = make_analytics(host=server.url, storage="disk", storage_dir=folder)
    for number in range(100):
        first.track("Refused Here" if number == 64 else "Good", {"n": number})
    assert first.flush(timeout=0.5) is False
    first.shutdown(timeout=0.2)
    server.answer_normally()
    server.fail_batches_containing("Refused Here", Answer(400))
    errors = Errors()
    second = make_analytics(host=server.url, storage="disk", storage_dir=folder, on_error=errors)
    assert second.flush(timeout=30)
    assert good_numbers(server) == [n for n in range(100) if n != 64]
    assert errors.events() == ["Refused Here"]


def test_an_outbox_written_before_failed_batches_were_kept_is_read_and_sent(
    make_analytics: MakeAnalytics, server: MisbehavingServer, tmp_path: Path
) -> None:
    folder = tmp_path / "old-outbox"
    folder.mkdir()
    with sqlite3.connect(folder / "outbox.sqlite") as conn:
        conn.execute(
            "CREATE TABLE entries (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " messages INTEGER NOT NULL, body BLOB NOT NULL)"
        )
        bodies = [
            orjson.dumps({"type": "track", "event": "Good", "properties": {"n": n},
                          "anonymousId": "a1", "messageId": f"old-{n}"})
            for n in range(3)
        ]  # fmt: skip
        conn.execute("INSERT INTO entries (messages, body) VALUES (3, ?)", (b"\n".join(bodies),))
    conn.close()
    analytics: Analytics = make_analytics(host=server.url, storage="disk", storage_dir=folder)
    assert analytics.flush(timeout=30)
    assert good_numbers(server) == [0, 1, 2]
