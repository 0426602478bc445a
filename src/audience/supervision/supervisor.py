"""The supervisor: runs each child process, watches it, starts it again when it dies.

Each :class:`ChildSpec` runs in a fresh interpreter (multiprocessing's ``spawn``: nothing of
the collector's threads or connections is copied). One thread watches every child's process
sentinel; when a child dies, its death is logged with its exit code or signal and it is
started again after the :class:`~audience.supervision.backoff.RestartPolicy` delay. A child
counts as down from its death until the new process says it has started.

``stop`` asks every child at once (it closes their stop lines), waits up to ``stop_grace``
seconds for them to finish their batch, then kills what is left; nothing is restarted from
the moment ``hold`` or ``stop`` is called. Status is kept in immutable snapshots, so
``statuses`` never waits.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, Final, Literal, cast

from audience import shared_metrics
from audience.clock import Clock, SystemClock
from audience.errors import ConfigError
from audience.jsontypes import JSONObject
from audience.supervision.backoff import RestartPolicy
from audience.supervision.child import STARTED, ChildEnds, ChildTarget, child_main
from audience.supervision.doorbell import Doorbell
from audience.tracking import format_timestamp

logger = logging.getLogger(__name__)

STOP_GRACE: Final = 5.0
"""Seconds a child has to finish its batch and exit once asked, before it is killed."""

REAP_WAIT: Final = 1.0
"""Seconds allowed for a killed child to be reaped."""

WATCH_PAUSE: Final = 1.0
"""Seconds the watcher pauses after an unexpected error before it looks again."""

ChildState = Literal["starting", "running", "restarting", "stopped"]


@dataclass(frozen=True)
class ChildSpec:
    """A child to supervise: ``target(link, *args)`` in a process of its own.

    ``target`` is a module-level function (the new interpreter imports it by name) and
    ``args`` must pickle. ``name`` names the child in logs and in statuses.
    """

    name: str
    target: ChildTarget
    args: tuple[Any, ...] = ()
    log_level: str = "info"
    log_format: str = "plain"


@dataclass(frozen=True)
class ChildExit:
    """How a child process ended: its exit code, or the signal that killed it."""

    code: int | None
    signal: str | None
    at: datetime

    @classmethod
    def of(cls, exitcode: int | None, at: datetime) -> ChildExit:
        """Read multiprocessing's ``exitcode`` (negative: killed by that signal)."""
        if exitcode is None or exitcode >= 0:
            return cls(exitcode, None, at)
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return cls(None, name, at)

    def describe(self) -> str:
        """``was killed by SIGKILL``, ``exited with code 1``."""
        if self.signal is not None:
            return f"was killed by {self.signal}"
        if self.code is None:
            return "could not be started"
        return f"exited with code {self.code}"

    def to_json(self) -> JSONObject:
        """``{"code", "signal", "at"}``."""
        return {"code": self.code, "signal": self.signal, "at": format_timestamp(self.at)}


@dataclass(frozen=True)
class ChildStatus:
    """Where one child stands.

    ``since`` is when it entered ``state`` (wall clock). ``down_since`` is the monotonic time
    from which it has not been up: its death, or the supervisor's start when it has not
    started yet; ``None`` while it runs. ``restarts`` counts the starts after the first.
    """

    name: str
    state: ChildState
    pid: int | None
    restarts: int
    since: datetime
    down_since: float | None
    last_exit: ChildExit | None

    def down_for(self, now: float) -> float:
        """Seconds it has been down at monotonic time ``now`` (0 while it runs)."""
        return 0.0 if self.down_since is None else max(0.0, now - self.down_since)

    def to_json(self, now: float) -> JSONObject:
        """``{"state", "pid", "restarts", "since", "downSeconds", "lastExit"}``."""
        return {
            "state": self.state,
            "pid": self.pid,
            "restarts": self.restarts,
            "since": format_timestamp(self.since),
            "downSeconds": round(self.down_for(now), 1),
            "lastExit": None if self.last_exit is None else self.last_exit.to_json(),
        }


def _not_started(name: str, created: datetime, begun: float) -> ChildStatus:
    return ChildStatus(name, "stopped", None, 0, created, begun, None)


@dataclass
class _Slot:
    """One child's process and lines; changed only by the watcher thread (or ``stop``)."""

    spec: ChildSpec
    doorbell: Doorbell
    status: ChildStatus
    process: BaseProcess | None = None
    stop_line: Connection | None = None
    started_line: Connection | None = None
    spawned_at: float = 0.0
    deaths_in_a_row: int = 0
    start_at: float | None = None


class Supervisor:
    """Keeps each of ``specs`` running in a child process from ``start`` until ``stop``."""

    def __init__(
        self,
        specs: Sequence[ChildSpec],
        *,
        policy: RestartPolicy | None = None,
        clock: Clock | None = None,
        stop_grace: float = STOP_GRACE,
    ) -> None:
        names = [spec.name for spec in specs]
        if len(set(names)) != len(names):
            raise ConfigError(f"supervised children need distinct names, not {names}")
        self._policy = policy or RestartPolicy()
        self._clock = clock or SystemClock()
        self._stop_grace = stop_grace
        self._context = multiprocessing.get_context("spawn")
        created, begun = self._clock.now(), self._clock.monotonic()
        self._slots = [
            _Slot(spec, Doorbell(), _not_started(spec.name, created, begun)) for spec in specs
        ]
        self._poked, poke = os.pipe()
        os.set_blocking(self._poked, False)
        os.set_blocking(poke, False)
        self._poke_line = poke
        self._thread: threading.Thread | None = None
        self._held = False
        self._stopping = False
        self._closed = False

    # -- what the collector uses ---------------------------------------------------------

    def doorbell(self, name: str) -> Doorbell:
        """The doorbell of the child ``name``: ring it after each commit."""
        for slot in self._slots:
            if slot.spec.name == name:
                return slot.doorbell
        raise ConfigError(f"no supervised child is named {name!r}")

    def doorbells(self) -> list[Doorbell]:
        """Every child's doorbell."""
        return [slot.doorbell for slot in self._slots]

    def statuses(self) -> list[ChildStatus]:
        """Every child's status, in the order of the specs; never waits."""
        return [slot.status for slot in self._slots]

    @property
    def stopping(self) -> bool:
        """Whether restarts are over: ``hold`` or ``stop`` was called."""
        return self._held or self._stopping

    def start(self) -> None:
        """Start every child and the thread that watches them."""
        if self._thread is not None or self._closed:
            return
        now = self._clock.monotonic()
        for slot in self._slots:
            slot.start_at = now
            slot.status = replace(slot.status, state="starting", since=self._clock.now())
        self._thread = threading.Thread(target=self._watch, name="audience-supervisor", daemon=True)
        self._thread.start()
        # If the collector exits without stopping (a second Ctrl-C skips the application's
        # shutdown), children are still asked, given their grace, then killed.
        atexit.register(self.stop)

    def hold(self) -> None:
        """Restart nothing from now on (the collector is stopping); safe in a signal handler."""
        self._held = True
        self._poke()

    def stop(self) -> None:
        """Ask every child to stop, wait up to ``stop_grace`` seconds, then kill the rest.

        Returns within ``stop_grace`` plus ``REAP_WAIT`` seconds (and the time to finish a
        start in progress).
        """
        if self._closed:
            return
        self._closed = True
        self._stopping = True
        atexit.unregister(self.stop)
        self._poke()
        if self._thread is not None:
            self._thread.join()
        live = [slot for slot in self._slots if slot.process is not None]
        for slot in live:
            self._ask_to_stop(slot)
        deadline = self._clock.monotonic() + self._stop_grace
        waiting = {slot.process.sentinel: slot for slot in live if slot.process is not None}
        while waiting:
            remaining = deadline - self._clock.monotonic()
            if remaining <= 0:
                break
            for sentinel in wait(list(waiting), remaining):
                self._on_death(waiting.pop(cast(int, sentinel)))
        for slot in waiting.values():
            if slot.process is not None:
                logger.warning(
                    "child %s (pid %s) did not stop within %.0f s; killing it",
                    slot.spec.name,
                    slot.process.pid,
                    self._stop_grace,
                )
                slot.process.kill()
        for slot in waiting.values():
            if slot.process is not None:
                slot.process.join(REAP_WAIT)
                self._on_death(slot)
        for slot in self._slots:
            slot.start_at = None
            if slot.status.state != "stopped" and slot.process is None:
                self._set(slot, "stopped", pid=None)
            slot.doorbell.close()
        os.close(self._poked)
        os.close(self._poke_line)

    # -- the watcher thread --------------------------------------------------------------

    def _poke(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._poke_line, b"\0")

    def _watch(self) -> None:
        while not self._stopping:
            try:
                self._watch_once()
            except Exception:
                # The watcher must outlive a surprise: children would otherwise go unwatched.
                logger.exception("supervising the children failed; looking again")
                threading.Event().wait(WATCH_PAUSE)

    def _watch_once(self) -> None:
        now = self._clock.monotonic()
        for slot in self._slots:
            if slot.start_at is not None and now >= slot.start_at:
                if self._held:
                    slot.start_at = None
                    self._set(slot, "stopped", pid=None)
                else:
                    self._spawn(slot)
        waitables: list[Any] = [self._poked]
        started: dict[Connection, _Slot] = {}
        deaths: dict[int, _Slot] = {}
        for slot in self._slots:
            if slot.started_line is not None:
                started[slot.started_line] = slot
                waitables.append(slot.started_line)
            if slot.process is not None:
                deaths[slot.process.sentinel] = slot
                waitables.append(slot.process.sentinel)
        due = [slot.start_at for slot in self._slots if slot.start_at is not None]
        timeout = max(0.0, min(due) - now) if due else None
        ready = wait(waitables, timeout)
        if self._poked in ready:
            with contextlib.suppress(OSError):
                os.read(self._poked, 4096)
        # A child that said it started and died at once is seen starting, then dying.
        for line in [item for item in ready if isinstance(item, Connection)]:
            self._on_started(started[line])
        for sentinel in [item for item in ready if isinstance(item, int) and item in deaths]:
            self._on_death(deaths[sentinel])

    def _spawn(self, slot: _Slot) -> None:
        slot.start_at = None
        slot.spawned_at = self._clock.monotonic()
        first = slot.status.state == "starting" and slot.status.last_exit is None
        stop_end, stop_line = self._context.Pipe(duplex=False)
        started_line, started_end = self._context.Pipe(duplex=False)
        ends = ChildEnds(wake=slot.doorbell.receiver, stop=stop_end, started=started_end)
        process = self._context.Process(
            target=child_main,
            args=(
                ends,
                slot.spec.log_level,
                slot.spec.log_format,
                slot.spec.name,
                slot.spec.target,
                slot.spec.args,
            ),
            name=f"audience-{slot.spec.name}",
            daemon=True,
        )
        try:
            process.start()
        except Exception:
            logger.exception("child %s could not be started", slot.spec.name)
            stop_line.close()
            started_line.close()
            self._after_death(slot, ChildExit(None, None, self._clock.now()), None)
            return
        finally:
            # The child has its own copies now; these are the collector's.
            stop_end.close()
            started_end.close()
        slot.process = process
        slot.stop_line = stop_line
        slot.started_line = started_line
        restarts = slot.status.restarts + (0 if first else 1)
        self._set(slot, "starting", pid=process.pid, restarts=restarts)
        if first:
            logger.info("started child %s (pid %s)", slot.spec.name, process.pid)
        else:
            logger.warning(
                "restarted child %s as pid %s (restart %d)", slot.spec.name, process.pid, restarts
            )

    def _on_started(self, slot: _Slot) -> None:
        line, slot.started_line = slot.started_line, None
        if line is None:
            return
        try:
            message = line.recv_bytes()
        except (EOFError, OSError):
            message = b""  # it died before it started: its sentinel says so too
        line.close()
        if message == STARTED and slot.process is not None:
            if slot.status.restarts:
                logger.info("child %s (pid %s) is up again", slot.spec.name, slot.process.pid)
            self._set(slot, "running", pid=slot.process.pid, down_since=None)

    def _on_death(self, slot: _Slot) -> None:
        process, slot.process = slot.process, None
        if process is None:
            return
        process.join(REAP_WAIT)
        pid, exitcode = process.pid, process.exitcode
        if exitcode is None:
            logger.error("child %s (pid %s) cannot be reaped; leaving it", slot.spec.name, pid)
        else:
            process.close()
        for line in (slot.started_line, slot.stop_line):
            if line is not None:
                line.close()
        slot.started_line = slot.stop_line = None
        if pid is not None:
            shared_metrics.process_gone(pid)  # its live gauges no longer count
        self._after_death(slot, ChildExit.of(exitcode, self._clock.now()), pid)

    def _after_death(self, slot: _Slot, ended: ChildExit, pid: int | None) -> None:
        name = slot.spec.name
        down_since = slot.status.down_since
        if down_since is None:
            down_since = self._clock.monotonic()
        if self.stopping:
            logger.info("child %s (pid %s) stopped: it %s", name, pid, ended.describe())
            self._set(slot, "stopped", pid=None, down_since=down_since, last_exit=ended)
            return
        ran_for = self._clock.monotonic() - slot.spawned_at
        slot.deaths_in_a_row = self._policy.deaths_in_a_row(slot.deaths_in_a_row, ran_for)
        delay = self._policy.delay(slot.deaths_in_a_row)
        slot.start_at = self._clock.monotonic() + delay
        logger.warning(
            "child %s (pid %s) %s after %.1f s; restarting it in %.1f s",
            name,
            pid,
            ended.describe(),
            ran_for,
            delay,
        )
        self._set(slot, "restarting", pid=None, down_since=down_since, last_exit=ended)

    def _ask_to_stop(self, slot: _Slot) -> None:
        line, slot.stop_line = slot.stop_line, None
        if line is not None:
            line.close()  # end of file on the child's side: stop after the batch in hand

    def _set(self, slot: _Slot, state: ChildState, **changes: Any) -> None:
        slot.status = replace(slot.status, state=state, since=self._clock.now(), **changes)
