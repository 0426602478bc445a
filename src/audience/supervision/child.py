"""The child's side of supervision: when to stop, how to wait for work, how to say it is up.

A supervised child finishes the batch in hand and exits (code 0) when any of these happens:

- the collector asks: it closes the child's stop line;
- the collector dies, however it dies: the kernel closes the same line;
- the child receives SIGTERM, as systemd and container runtimes send to the whole group.

SIGINT is ignored: Ctrl-C reaches the whole process group, and the collector, which gets it
too, stops its children itself once its requests are answered.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from types import FrameType
from typing import Any, Final

from audience import logs
from audience.supervision.doorbell import drain

logger = logging.getLogger(__name__)

STARTED: Final = b"started"


@dataclass(frozen=True)
class ChildEnds:
    """The pipe ends one child process gets; multiprocessing hands them to the new interpreter."""

    wake: Connection
    """The doorbell's read end: readable after new events were committed."""
    stop: Connection
    """The stop line's read end: readable (end of file) once the collector closes it or dies."""
    started: Connection
    """Where the child says it is up and working."""


class ChildLink:
    """What a child's main loop asks: ``stopping``, ``wait`` for work, ``pause``, ``started``."""

    def __init__(self, ends: ChildEnds) -> None:
        self._ends = ends
        self._signalled, signal_sender = os.pipe()
        os.set_blocking(signal_sender, False)
        self._signal_sender = signal_sender
        self._stopping = False

    def listen_for_signals(self) -> None:
        """SIGTERM asks for a stop after the batch in hand; SIGINT is left to the collector."""
        signal.signal(signal.SIGTERM, self._on_sigterm)
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    def _on_sigterm(self, _signum: int, _frame: FrameType | None) -> None:
        self._stopping = True
        with contextlib.suppress(OSError):
            os.write(self._signal_sender, b"\0")  # ends a wait in progress

    @property
    def stopping(self) -> bool:
        """Whether the child must stop: asked to, signalled, or its collector is gone."""
        if not self._stopping and self._ends.stop.poll(0):
            self._stopping = True
        return self._stopping

    def wait(self, timeout: float) -> bool:
        """Sleep until new events are committed, a stop is due, or ``timeout`` seconds pass.

        Returns ``True`` when woken by a commit.
        """
        if self.stopping:
            return False
        ready = wait([self._ends.wake, self._ends.stop, self._signalled], timeout)
        if self._ends.stop in ready or self._signalled in ready:
            self._stopping = True
        return self._ends.wake in ready and drain(self._ends.wake)

    def pause(self, seconds: float) -> None:
        """Sleep ``seconds`` unless a stop is due, leaving the doorbell's rings to ``wait``."""
        if self.stopping:
            return
        if wait([self._ends.stop, self._signalled], seconds):
            self._stopping = True

    def started(self) -> None:
        """Tell the collector this child is up (it counts as down until then)."""
        with contextlib.suppress(OSError):
            self._ends.started.send_bytes(STARTED)
        self._ends.started.close()


ChildTarget = Callable[..., None]
"""A child's body: ``target(link, *args)``, a module-level function (it is imported by name)."""


def child_main(
    ends: ChildEnds,
    log_level: str,
    log_format: str,
    role: str,
    target: ChildTarget,
    args: tuple[Any, ...],
) -> None:
    """The first function every supervised child runs in its fresh interpreter."""
    link = ChildLink(ends)
    link.listen_for_signals()
    logs.configure(log_level, log_format, role)
    logger.info("%s started", role)
    target(link, *args)
    logger.info("%s stopped", role)
