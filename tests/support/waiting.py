"""Waiting, bounded, for something that happens in the background."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T],
    seconds: float = 30.0,
    what: str = "the condition",
    every: float = 0.05,
) -> T:
    """Poll ``condition`` every ``every`` seconds until it returns something truthy, and return
    that; fail naming ``what`` once ``seconds`` have passed."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {seconds:g} s")
        time.sleep(every)
