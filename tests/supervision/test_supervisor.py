"""The supervisor with real child processes: restarts, backoff, stopping, orphans."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from audience.supervision import ChildSpec, ChildStatus, Doorbell, RestartPolicy, Supervisor
from support import wait_for

from .children import deaf, failing, follower
from .support import alive, journal_lines

TESTS_DIR = Path(__file__).resolve().parents[1]


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    return tmp_path / "journal.txt"


@pytest.fixture
def supervisors() -> Iterator[list[Supervisor]]:
    made: list[Supervisor] = []
    yield made
    for supervisor in made:
        supervisor.stop()


def running(supervisor: Supervisor) -> ChildStatus | None:
    (status,) = supervisor.statuses()
    return status if status.state == "running" else None


def test_the_backoff_doubles_from_half_a_second_to_thirty_and_forgets_after_a_stable_run() -> None:
    """0.5 s after the first death, doubling with each death in a row, never over 30 s."""
    policy = RestartPolicy()
    assert [policy.delay(n) for n in range(1, 10)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    assert policy.delay(10_000) == 30
    assert policy.deaths_in_a_row(5, ran_for=2.0) == 6
    assert policy.deaths_in_a_row(5, ran_for=10.0) == 1


def test_a_killed_child_is_started_again_with_a_new_pid_and_its_death_is_logged(
    journal: Path, supervisors: list[Supervisor], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="audience.supervision")
    supervisor = Supervisor([ChildSpec("follower", follower, (journal,))])
    supervisors.append(supervisor)
    supervisor.start()
    first = wait_for(lambda: running(supervisor), what="the first start")
    assert first.pid is not None
    assert first.restarts == 0
    assert first.last_exit is None

    os.kill(first.pid, signal.SIGKILL)
    second = wait_for(
        lambda: (status := running(supervisor)) and status.pid != first.pid and status,
        what="a restart",
    )
    assert second.restarts == 1
    assert second.last_exit is not None
    assert second.last_exit.signal == "SIGKILL"
    assert second.last_exit.code is None
    messages = [record.getMessage() for record in caplog.records]
    assert f"child follower (pid {first.pid}) was killed by SIGKILL" in "\n".join(messages)
    assert any("restarting it in 0.5 s" in message for message in messages)
    assert f"restarted child follower as pid {second.pid} (restart 1)" in messages

    supervisor.stop()
    (stopped,) = supervisor.statuses()
    assert stopped.state == "stopped"
    assert stopped.last_exit is not None
    assert stopped.last_exit.code == 0
    assert f"{second.pid} stopped" in journal_lines(journal)
    assert not alive(second.pid)


def test_a_child_that_keeps_dying_is_started_again_later_each_time(
    supervisors: list[Supervisor], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="audience.supervision")
    supervisor = Supervisor([ChildSpec("failing", failing)])
    supervisors.append(supervisor)
    supervisor.start()

    def third_death() -> bool:
        return "restarting it in 2.0 s" in caplog.text

    wait_for(third_death, seconds=60, what="three deaths in a row")
    assert "exited with code 1" in caplog.text
    waits = [
        message.rsplit("restarting it in ", 1)[1]
        for message in (record.getMessage() for record in caplog.records)
        if "restarting it in" in message
    ]
    assert waits[:3] == ["0.5 s", "1.0 s", "2.0 s"]
    (status,) = supervisor.statuses()
    assert status.state in ("restarting", "starting")
    assert status.restarts >= 2
    assert status.down_since is not None  # never up, so down since the supervisor started


def test_a_child_that_ignores_the_stop_request_is_killed_once_its_grace_is_over(
    supervisors: list[Supervisor],
) -> None:
    supervisor = Supervisor([ChildSpec("deaf", deaf)], stop_grace=1.0)
    supervisors.append(supervisor)
    supervisor.start()
    status = wait_for(lambda: running(supervisor), what="the start")
    assert status.pid is not None
    os.kill(status.pid, signal.SIGTERM)  # handled: it would stop after its batch, but never looks

    started = time.monotonic()
    supervisor.stop()
    took = time.monotonic() - started
    assert 1.0 <= took < 10.0
    (stopped,) = supervisor.statuses()
    assert stopped.last_exit is not None
    assert stopped.last_exit.signal == "SIGKILL"
    assert not alive(status.pid)


def test_a_child_frozen_by_sigstop_is_killed_when_the_supervisor_stops(
    journal: Path, supervisors: list[Supervisor]
) -> None:
    supervisor = Supervisor([ChildSpec("follower", follower, (journal,))], stop_grace=1.0)
    supervisors.append(supervisor)
    supervisor.start()
    status = wait_for(lambda: running(supervisor), what="the start")
    assert status.pid is not None
    os.kill(status.pid, signal.SIGSTOP)
    supervisor.stop()
    (stopped,) = supervisor.statuses()
    assert stopped.last_exit is not None
    assert stopped.last_exit.signal == "SIGKILL"
    assert not alive(status.pid)


def test_sigterm_makes_a_child_finish_and_exit_cleanly_and_once_held_it_stays_stopped(
    journal: Path, supervisors: list[Supervisor]
) -> None:
    """What a whole process group's SIGTERM does to a child while its collector stops."""
    supervisor = Supervisor([ChildSpec("follower", follower, (journal,))])
    supervisors.append(supervisor)
    supervisor.start()
    status = wait_for(lambda: running(supervisor), what="the start")
    assert status.pid is not None
    supervisor.hold()
    os.kill(status.pid, signal.SIGTERM)

    def settled() -> ChildStatus | None:
        (current,) = supervisor.statuses()
        return current if current.state == "stopped" else None

    stopped = wait_for(settled, what="the child's exit")
    assert stopped.last_exit is not None
    assert stopped.last_exit.code == 0
    assert f"{status.pid} stopped" in journal_lines(journal)
    time.sleep(RestartPolicy().first_delay * 3)
    (still,) = supervisor.statuses()
    assert still.state == "stopped"
    assert still.restarts == 0


def test_a_child_sent_sigterm_alone_is_started_again(
    journal: Path, supervisors: list[Supervisor]
) -> None:
    supervisor = Supervisor([ChildSpec("follower", follower, (journal,))])
    supervisors.append(supervisor)
    supervisor.start()
    first = wait_for(lambda: running(supervisor), what="the start")
    assert first.pid is not None
    os.kill(first.pid, signal.SIGTERM)
    second = wait_for(
        lambda: (status := running(supervisor)) and status.pid != first.pid and status,
        what="a restart",
    )
    assert second.last_exit is not None
    assert second.last_exit.code == 0


PARENT = """
import sys, time
from pathlib import Path
from audience.supervision import ChildSpec, Supervisor
from supervision.children import follower
supervisor = Supervisor([ChildSpec("follower", follower, (Path(sys.argv[1]),))])
supervisor.start()
time.sleep(3600)
"""


def test_a_child_exits_on_its_own_when_its_collector_is_killed(journal: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(TESTS_DIR)}
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(journal)], env=env)
    try:
        line = wait_for(
            lambda: next((x for x in journal_lines(journal) if x.endswith(" started")), None),
            what="the child's start",
        )
        child = int(line.split()[0])
        assert alive(child)
        parent.kill()
        parent.wait(10)
        wait_for(lambda: not alive(child), seconds=15, what="the orphan's exit")
        assert f"{child} stopped" in journal_lines(journal)  # it finished cleanly
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)


def ring_from_a_thread(doorbell: Doorbell, times: int) -> float:
    """Ring ``times`` times on a thread of its own; the seconds it took (fails if it hangs)."""
    took: list[float] = []

    def ring() -> None:
        started = time.monotonic()
        for _ in range(times):
            doorbell.ring(1)
        took.append(time.monotonic() - started)

    ringer = threading.Thread(target=ring, daemon=True)
    ringer.start()
    ringer.join(30)
    assert not ringer.is_alive(), "ringing the doorbell blocked"
    return took[0]


def test_ringing_never_waits_for_a_child_not_started_stopped_dead_or_gone(
    journal: Path, supervisors: list[Supervisor]
) -> None:
    """200,000 rings each time: more than any pipe holds, so a blocking write would hang."""
    supervisor = Supervisor([ChildSpec("follower", follower, (journal,))])
    supervisors.append(supervisor)
    doorbell = supervisor.doorbell("follower")
    ring_from_a_thread(doorbell, 200_000)  # not started yet

    supervisor.start()
    status = wait_for(lambda: running(supervisor), what="the start")
    assert status.pid is not None
    wait_for(lambda: f"{status.pid} woken" in journal_lines(journal), what="the first wake")
    os.kill(status.pid, signal.SIGSTOP)
    ring_from_a_thread(doorbell, 200_000)
    os.kill(status.pid, signal.SIGKILL)
    ring_from_a_thread(doorbell, 200_000)

    restarted = wait_for(
        lambda: (current := running(supervisor)) and current.pid != status.pid and current,
        what="a restart",
    )
    doorbell.ring(1)
    wait_for(lambda: f"{restarted.pid} woken" in journal_lines(journal), what="a wake")
    supervisor.stop()
    ring_from_a_thread(doorbell, 1_000)  # closed: rings do nothing
