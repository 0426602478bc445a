"""When a dead child is started again: exponential backoff that forgets after a stable run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

FIRST_DELAY: Final = 0.5
"""Seconds before the first restart of a child that died."""

MAX_DELAY: Final = 30.0
"""The longest wait between two starts of a child that keeps dying."""

STABLE_RUN: Final = 10.0
"""A child that lived this many seconds before dying counts as having run well."""


@dataclass(frozen=True)
class RestartPolicy:
    """A child that dies is started again after ``first_delay`` seconds, doubling with each
    death in a row up to ``max_delay``; a death after a run of ``stable_run`` seconds or more
    starts the count again.

    With the defaults a child that keeps dying at once is started again after 0.5, 1, 2, 4,
    8, 16, 30, 30 ... seconds.
    """

    first_delay: float = FIRST_DELAY
    max_delay: float = MAX_DELAY
    stable_run: float = STABLE_RUN

    def deaths_in_a_row(self, before: int, ran_for: float) -> int:
        """The count of deaths in a row once a child that ran ``ran_for`` seconds has died."""
        return 1 if ran_for >= self.stable_run else before + 1

    def delay(self, deaths_in_a_row: int) -> float:
        """Seconds to wait before the next start after ``deaths_in_a_row`` deaths in a row."""
        if deaths_in_a_row <= 0:
            return 0.0
        # Capping the exponent keeps a child that has died a thousand times from overflowing.
        return min(self.max_delay, self.first_delay * 2.0 ** min(deaths_in_a_row - 1, 64))
