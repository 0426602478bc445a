"""Supervised children: whatever runs beside the collector runs in a child process of its own.

The collector (``audience serve``) runs the resolver and the destination dispatcher as child
processes, each a fresh interpreter started by :class:`Supervisor` from a :class:`ChildSpec`.

- **Waking.** After each commit the collector rings the child's :class:`Doorbell`, a write to a
  non-blocking pipe that can never wait, whatever state the child is in; rings are written at
  most once every 20 ms, and once more when that window ends, so every commit is heard.
- **Watching.** A dead child is logged with its exit code or signal and started again after an
  exponential backoff (:class:`RestartPolicy`: 0.5 s doubling to 30 s, forgotten after a run
  of 10 s). Children follow the log from their committed cursors, so a new one resumes where
  the last commit of the old one left off.
- **Stopping.** A child (:class:`ChildLink`) finishes the batch in hand and exits when the
  collector asks, when the collector dies, or on SIGTERM; the supervisor kills a child that
  has not stopped ``STOP_GRACE`` (5 s) after it was asked, and restarts nothing once stopping.
"""

from audience.supervision.backoff import RestartPolicy
from audience.supervision.child import ChildLink
from audience.supervision.doorbell import Doorbell
from audience.supervision.supervisor import (
    REAP_WAIT,
    STOP_GRACE,
    ChildExit,
    ChildSpec,
    ChildState,
    ChildStatus,
    Supervisor,
)

__all__ = [
    "REAP_WAIT",
    "STOP_GRACE",
    "ChildExit",
    "ChildLink",
    "ChildSpec",
    "ChildState",
    "ChildStatus",
    "Doorbell",
    "RestartPolicy",
    "Supervisor",
]
