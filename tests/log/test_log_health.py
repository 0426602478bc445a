"""What readiness makes of the log's health: unreachable or without its stream, events cannot
be accepted; the body tells each partition's pending messages."""

from __future__ import annotations

from audience.http.readiness import assess
from audience.log.health import LogHealth
from audience.storage.writer import WriterHealth

SERVERS = ("nats://a:4222", "nats://b:4222")


def test_a_reachable_log_with_its_stream_makes_the_collector_ready() -> None:
    health = LogHealth(SERVERS, reachable=True, stream_ready=True, pending={0: 3, 1: None})
    readiness = assess(
        WriterHealth.idle(), [], None, stopping=False, child_down_limit=30, now=0, log=health
    )
    assert readiness.status_code == 200
    assert readiness.body["log"] == {
        "servers": list(SERVERS),
        "reachable": True,
        "streamReady": True,
        "pendingByPartition": {"0": 3, "1": None},
    }


def test_an_unreachable_log_makes_the_collector_unready_naming_its_servers() -> None:
    health = LogHealth(SERVERS, reachable=False)
    readiness = assess(
        WriterHealth.idle(), [], None, stopping=False, child_down_limit=30, now=0, log=health
    )
    assert readiness.status_code == 503
    assert readiness.problems == ["the event log (nats://a:4222, nats://b:4222) is unreachable"]
    assert readiness.body["events"]["canCommit"] is False  # type: ignore[index]


def test_a_log_whose_stream_is_not_made_yet_is_not_ready() -> None:
    assert LogHealth(SERVERS, reachable=True).problems() == [
        "the event log's stream is not ready yet"
    ]


def test_without_a_log_readiness_has_no_log_part() -> None:
    readiness = assess(WriterHealth.idle(), [], None, stopping=False, child_down_limit=30, now=0)
    assert "log" not in readiness.body
