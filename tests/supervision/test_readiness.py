"""The readiness rules: when /readyz says 503, and what its body holds."""

from __future__ import annotations

from datetime import UTC, datetime

from audience.http.readiness import FAILURE_MEMORY, WRITER_STALL_LIMIT, LagSample, assess
from audience.storage.writer import WriterHealth
from audience.supervision import ChildExit, ChildState, ChildStatus

NOW = 1_000.0
MOMENT = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
HEALTHY = WriterHealth(True, 0, 0.0, 0, None, 0.5)
LIMIT = 30.0


def child(name: str, state: ChildState = "running", down_since: float | None = None) -> ChildStatus:
    pid = 4321 if state in ("running", "starting") else None
    ended = None if down_since is None else ChildExit(None, "SIGKILL", MOMENT)
    return ChildStatus(name, state, pid, 1 if ended else 0, MOMENT, down_since, ended)


def judge(
    writer: WriterHealth = HEALTHY,
    children: tuple[ChildStatus, ...] = (),
    stopping: bool = False,
) -> tuple[int, list[str]]:
    readiness = assess(writer, children, None, stopping=stopping, child_down_limit=LIMIT, now=NOW)
    return readiness.status_code, readiness.problems


def test_a_collector_that_commits_with_its_children_up_is_ready() -> None:
    assert judge(children=(child("resolver"), child("dispatcher"))) == (200, [])


def test_an_append_waiting_longer_than_the_stall_limit_makes_it_unready() -> None:
    """A writer stuck in a commit or a listener leaves later appends waiting."""
    waiting = WriterHealth(True, 12, WRITER_STALL_LIMIT + 0.5, 0, None, 9.0)
    status, problems = judge(waiting)
    assert status == 503
    assert problems == ["the oldest queued append has waited 5.5 s (limit 5 s)"]
    assert judge(WriterHealth(True, 12, WRITER_STALL_LIMIT - 0.5, 0, None, 9.0))[0] == 200


def test_a_failed_commit_makes_it_unready_until_one_succeeds_or_the_failure_is_old() -> None:
    """With no traffic to prove the store works again, an old failure stops counting."""
    assert judge(WriterHealth(True, 0, 0.0, 3, 2.0, 40.0)) == (
        503,
        ["the last 3 commit(s) failed"],
    )
    assert judge(WriterHealth(True, 0, 0.0, 3, FAILURE_MEMORY + 1, 40.0))[0] == 200
    assert judge(WriterHealth(True, 0, 0.0, 0, 2.0, 1.0))[0] == 200


def test_a_writer_thread_that_has_ended_makes_it_unready() -> None:
    assert judge(WriterHealth(False, 1, 0.0, 0, None, None)) == (
        503,
        ["the event writer has stopped"],
    )


def test_a_child_down_longer_than_the_limit_makes_it_unready() -> None:
    """Dead, restarting or still starting: down from its death until it says it started."""
    long_dead = child("resolver", "restarting", down_since=NOW - LIMIT - 1)
    status, problems = judge(children=(long_dead, child("dispatcher")))
    assert status == 503
    assert problems == ["child resolver has been down for 31 s (limit 30 s)"]
    never_up = child("dispatcher", "starting", down_since=NOW - LIMIT - 5)
    assert judge(children=(never_up,))[0] == 503
    just_died = child("resolver", "restarting", down_since=NOW - 3)
    assert judge(children=(just_died,))[0] == 200


def test_a_stopping_collector_is_unready() -> None:
    assert judge(stopping=True) == (503, ["the collector is stopping"])


def test_the_body_gives_each_child_its_state_and_lag_and_the_writer_its_figures() -> None:
    sample = LagSample(120, {"resolver": 20, "dispatcher": {"crm": 0, "dw": 120}}, MOMENT)
    restarted = ChildStatus("resolver", "running", 99, 2, MOMENT, None, ChildExit(1, None, MOMENT))
    readiness = assess(
        WriterHealth(True, 2, 0.25, 0, None, 0.1),
        [restarted, child("dispatcher")],
        sample,
        stopping=False,
        child_down_limit=LIMIT,
        now=NOW,
    )
    assert readiness.body == {
        "status": "ready",
        "problems": [],
        "events": {
            "canCommit": True,
            "lastSeq": 120,
            "queuedAppends": 2,
            "oldestAppendWaitSeconds": 0.25,
            "failedCommitsInARow": 0,
            "secondsSinceLastCommit": 0.1,
        },
        "children": {
            "resolver": {
                "state": "running",
                "pid": 99,
                "restarts": 2,
                "since": "2026-11-29T12:00:00.000Z",
                "downSeconds": 0.0,
                "lastExit": {"code": 1, "signal": None, "at": "2026-11-29T12:00:00.000Z"},
                "lag": 20,
            },
            "dispatcher": {
                "state": "running",
                "pid": 4321,
                "restarts": 0,
                "since": "2026-11-29T12:00:00.000Z",
                "downSeconds": 0.0,
                "lastExit": None,
                "lag": {"crm": 0, "dw": 120},
            },
        },
        "lagSampledAt": "2026-11-29T12:00:00.000Z",
    }
