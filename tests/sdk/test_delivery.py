"""Delivery against a real HTTP server on loopback that misbehaves as real servers do."""

from __future__ import annotations

import os
import threading
from dataclasses import replace
from typing import Any

import pytest

from audience.errors import ConfigError, DeliveryError, PermanentDeliveryError
from audience.sdk import RetryPolicy
from audience.sdk.delivery import Response
from audience.sdk.testing import RecordingTransport
from support import free_port

from .conftest import FAST, MakeAnalytics
from .misbehaving_server import Answer, MisbehavingServer, basic_auth


def test_batches_are_posted_gzipped_to_v1_batch_with_basic_auth(
    make_analytics: MakeAnalytics, server: MisbehavingServer
) -> None:
    analytics = make_analytics(host=server.url, write_key="PYWRITEKEY")
    analytics.track("Order Completed", {"revenue": 42.5})
    assert analytics.flush(timeout=10)
    (request,) = server.received
    assert request.path == "/v1/batch"
    assert request.headers["Authorization"] == basic_auth("PYWRITEKEY")
    assert request.headers["Content-Encoding"] == "gzip"
    assert request.headers["Content-Type"] == "application/json"
    assert [m["event"] for m in request.batch] == ["Order Completed"]


def test_gzip_can_be_turned_off(make_analytics: MakeAnalytics, server: MisbehavingServer) -> None:
    analytics = make_analytics(host=server.url, delivery=replace(FAST, gzip=False))
    analytics.track("Plain")
    assert analytics.flush(timeout=10)
    assert "Content-Encoding" not in server.received[0].headers


def test_a_batch_holds_at_most_100_messages_and_stays_under_500_kb(
    make_analytics: MakeAnalytics, server: MisbehavingServer
) -> None:
    analytics = make_analytics(host=server.url, delivery=replace(FAST, gzip=False))
    for number in range(250):
        analytics.track("Small", {"n": number})
    for number in range(40):
        analytics.track("Large", {"n": number, "blob": "x" * 30_000})
    assert analytics.flush(timeout=30)
    assert all(len(r.batch) <= 100 for r in server.received)
    assert all(int(r.headers["Content-Length"]) < 500 * 1024 for r in server.received)
    assert len(server.delivered_once()) == 290


def test_a_refused_connection_is_retried_until_the_collector_comes_up(
    make_analytics: MakeAnalytics,
) -> None:
    port = free_port()
    analytics = make_analytics(host=f"http://127.0.0.1:{port}")
    analytics.track("While Down")
    assert analytics.flush(timeout=0.3) is False
    late = MisbehavingServer(port)
    try:
        assert analytics.flush(timeout=10)
        assert [m["event"] for m in late.delivered_once()] == ["While Down"]
    finally:
        late.stop()


def test_a_500_is_retried_with_the_same_message_id(
    make_analytics: MakeAnalytics, server: MisbehavingServer
) -> None:
    server.script(Answer(500), Answer(503))
    analytics = make_analytics(host=server.url)
    analytics.track("Retried")
    assert analytics.flush(timeout=10)
    assert [r.status for r in server.received] == [500, 503, 200]
    assert len({r.batch[0]["messageId"] for r in server.received}) == 1


def test_a_429_is_retried_no_sooner_than_its_retry_after(
    make_analytics: MakeAnalytics, server: MisbehavingServer
) -> None:
    server.script(Answer(429, {"Retry-After": "1"}))
    analytics = make_analytics(host=server.url)
    analytics.track("Rate Limited")
    assert analytics.flush(timeout=10)
    limited, accepted = server.received
    assert accepted.at - limited.at >= 1.0
    assert accepted.batch[0]["messageId"] == limited.batch[0]["messageId"]


def test_a_400_is_not_retried_and_is_reported_to_on_error(
    make_analytics: MakeAnalytics, server: MisbehavingServer
) -> None:
    errors: list[tuple[DeliveryError, list[dict[str, Any]]]] = []
    server.script(Answer(400))
    analytics = make_analytics(host=server.url, on_error=lambda e, b: errors.append((e, b)))
    analytics.track("Refused")
    assert analytics.flush(timeout=10)
    analytics.track("Next")
    assert analytics.flush(timeout=10)
    assert [r.status for r in server.received] == [400, 200]
    ((error, batch),) = errors
    assert isinstance(error, PermanentDeliveryError)
    assert error.status == 400
    assert [m["event"] for m in batch] == ["Refused"]


def test_a_slow_answer_past_the_timeout_is_sent_again(
    make_analytics: MakeAnalytics, server: MisbehavingServer
) -> None:
    server.script(Answer(delay=1.0))
    analytics = make_analytics(host=server.url, delivery=replace(FAST, timeout=0.3))
    analytics.track("Slow")
    assert analytics.flush(timeout=10)
    assert len(server.received) >= 2
    assert len({r.batch[0]["messageId"] for r in server.received}) == 1


def test_delivery_failures_never_raise_into_the_caller(make_analytics: MakeAnalytics) -> None:
    analytics = make_analytics(host=f"http://127.0.0.1:{free_port()}")
    for number in range(20):
        analytics.track("Nobody Listens", {"n": number})
    assert analytics.flush(timeout=0.2) is False
    assert analytics.shutdown(timeout=0.2) is False


def test_flush_waits_until_the_collector_has_answered(
    make_analytics: MakeAnalytics, server: MisbehavingServer
) -> None:
    server.script(Answer(delay=0.3))
    analytics = make_analytics(host=server.url)
    analytics.track("Waited For")
    assert analytics.flush()
    assert [m["event"] for m in server.delivered_once()] == ["Waited For"]


def test_leaving_the_with_block_delivers_what_was_tracked(
    make_analytics: MakeAnalytics, server: MisbehavingServer
) -> None:
    with make_analytics(host=server.url) as analytics:
        analytics.track("Last Words")
    assert [m["event"] for m in server.delivered_once()] == ["Last Words"]


def test_backoff_grows_exponentially_and_respects_retry_after() -> None:
    policy = RetryPolicy(base=0.5, cap=60.0)
    assert [policy.delay(n) for n in range(1, 5)] == [0.5, 1.0, 2.0, 4.0]
    assert policy.delay(20) == 60.0
    assert policy.delay(1, retry_after=7.0) == 7.0
    assert policy.delay(1, retry_after=10_000.0) == 300.0
    assert policy.delay(1, draw=0.0) == 0.25


@pytest.mark.parametrize("storage", ["memory", "disk"])
def test_a_forked_child_delivers_its_own_events_and_not_its_parents(
    make_analytics: MakeAnalytics, server: MisbehavingServer, storage: str
) -> None:
    analytics = make_analytics(host=server.url, storage=storage)
    analytics.track("Parent Before Fork")
    pid = os.fork()
    if pid == 0:  # the child: report through the exit status only
        code = 1
        try:
            analytics.track("From The Child")
            code = 0 if analytics.flush(timeout=10) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    analytics.track("Parent After Fork")
    assert analytics.flush(timeout=10)
    events = sorted(m["event"] for m in server.delivered_once())
    assert events == ["From The Child", "Parent After Fork", "Parent Before Fork"]


def test_when_one_of_several_batches_in_flight_fails_only_that_one_is_sent_again(
    make_analytics: MakeAnalytics, server: MisbehavingServer
) -> None:
    server.script(Answer(500, delay=0.2))
    analytics = make_analytics(host=server.url, delivery=replace(FAST, concurrency=3))
    for number in range(450):
        analytics.track("Many", {"n": number})
    assert analytics.flush(timeout=30)
    delivered = [m["properties"]["n"] for m in server.delivered_once()]
    assert sorted(delivered) == list(range(450))


class _GatedTransport(RecordingTransport):
    """Holds every post until the test opens the gate: a collector that has stopped answering."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.entered = threading.Event()

    def post(self, body: bytes) -> Response:
        self.entered.set()
        assert self.gate.wait(10)
        return super().post(body)


def test_when_the_memory_hand_off_is_full_new_messages_are_dropped_and_counted(
    make_analytics: MakeAnalytics,
) -> None:
    transport = _GatedTransport()
    analytics = make_analytics(
        transport=transport, delivery=replace(FAST, max_queue_size=3, concurrency=1)
    )
    analytics.track("First")
    assert transport.entered.wait(10)
    for number in range(5):
        analytics.track("Held", {"n": number})
    assert analytics.dropped == 2
    transport.gate.set()
    assert analytics.flush(timeout=10)
    assert [m.get("properties", {}).get("n") for m in transport.messages] == [None, 0, 1, 2]


def test_an_unknown_storage_kind_is_a_config_error(make_analytics: MakeAnalytics) -> None:
    with pytest.raises(ConfigError):
        make_analytics(storage="cloud")


@pytest.mark.parametrize(
    "change", [{"max_queue_size": 0}, {"concurrency": 0}, {"timeout": 0}, {"persist_interval": -1}]
)
def test_a_delivery_policy_that_cannot_work_is_refused(change: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        replace(FAST, **change)
