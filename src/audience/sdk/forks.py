"""Starting afresh in a child after ``os.fork()``, with or without the interpreter's fork hooks.

Where ``os.register_at_fork`` exists (CPython on POSIX) the hooks run in the child right after
the fork. Where it does not (Windows, which has no fork, and interpreters without it), objects
that own threads, connections or locks ask ``ProcessWatch.forked()`` before using them: it
notices a new process id once, and the object starts afresh then.
"""

from __future__ import annotations

import os
from collections.abc import Callable

HOOKS = hasattr(os, "register_at_fork")
"""Whether the interpreter runs fork hooks; when it does, ``ProcessWatch`` never needs to look."""


def after_fork_in_child(hook: Callable[[], None]) -> None:
    """Run ``hook`` in every child right after a fork, where the interpreter can."""
    if HOOKS:
        os.register_at_fork(after_in_child=hook)


class ProcessWatch:
    """Tells, where fork hooks are missing, the first time it is asked from a forked child."""

    def __init__(self) -> None:
        self._pid = os.getpid()

    def forked(self) -> bool:
        """True once in a process other than the one that last saw this watch (never with hooks)."""
        if HOOKS:
            return False
        pid = os.getpid()
        if pid == self._pid:
            return False
        self._pid = pid
        return True
