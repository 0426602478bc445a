"""Bodies of the child processes the supervision tests run (imported by name in each child)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from audience.supervision import ChildLink


def note(path: Path, line: str) -> None:
    """Append one line to ``path`` (each write is one small append: safe across processes)."""
    with path.open("a") as log:
        log.write(line + "\n")


def follower(link: ChildLink, journal: Path) -> None:
    """Like the real children: say it started, note each wake, stop when it must."""
    note(journal, f"{os.getpid()} started")
    link.started()
    while not link.stopping:
        if link.wait(0.2):
            note(journal, f"{os.getpid()} woken")
    note(journal, f"{os.getpid()} stopped")


def failing(link: ChildLink) -> None:
    """A child that cannot start: it dies before it says so."""
    raise RuntimeError("cannot open what this child needs")


def deaf(link: ChildLink) -> None:
    """A child that starts and then never looks at its stop line."""
    link.started()
    while True:
        time.sleep(3600)
