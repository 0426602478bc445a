"""Message ids that cost a fraction of ``uuid4()``: a random per-process prefix and a counter.

A messageId must be unique (the collector deduplicates on it), not secret. Each process draws
76 random bits from ``os.urandom`` once, then counts; the result is shaped like a version 4
UUID. After ``os.fork()`` the child draws a new prefix, so parent and child never collide
(``audience.sdk.forks``).
Anonymous ids, which name people, stay full ``uuid4`` values from ``audience.clock.UuidFactory``.
"""

from __future__ import annotations

import itertools
import os
import weakref

from audience.sdk import forks

_factories: weakref.WeakSet[MessageIdFactory] = weakref.WeakSet()


class MessageIdFactory:
    """An ``IdFactory`` for message ids: ``xxxxxxxx-xxxx-4xxx-yxxx-<48-bit counter>``."""

    def __init__(self) -> None:
        self._reseed()
        self._process = forks.ProcessWatch()
        _factories.add(self)

    def _reseed(self) -> None:
        raw = os.urandom(10).hex()
        variant = "89ab"[int(raw[12], 16) & 3]
        self._prefix = f"{raw[:8]}-{raw[8:12]}-4{raw[13:16]}-{variant}{raw[16:19]}-"
        self._counter = itertools.count(int(raw[19:], 16) << 40)

    def new(self) -> str:
        # The counter starts below 2**44: it needs 2**47 ids to outgrow its 12 digits.
        if not forks.HOOKS and self._process.forked():
            self._reseed()
        return f"{self._prefix}{next(self._counter):012x}"


def _reseed_after_fork() -> None:
    for factory in list(_factories):
        factory._reseed()


forks.after_fork_in_child(_reseed_after_fork)
