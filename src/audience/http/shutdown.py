"""Stopping ``audience serve`` in bounded time: the order of the steps and their limits.

On SIGTERM or SIGINT, sent to the server process alone or to its whole process group:

1. uvicorn stops accepting connections and lets the requests in progress finish, for at most
   ``DRAIN_SECONDS``; an event acknowledged with a 200 is already committed.
2. The application's lifespan stops the supervised children: each is asked to finish its
   batch and given ``STOP_GRACE`` seconds, then killed and reaped (``REAP_WAIT``). Nothing
   is restarted from the moment the signal arrives, so children that got the group's
   SIGTERM themselves and exited are not started again.
3. The event store commits what is still queued and closes, given ``STORE_CLOSE_SECONDS``.

The process then exits with code 0, within ``SHUTDOWN_BOUND`` seconds of the signal.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, Final, NoReturn

from starlette.concurrency import run_in_threadpool

from audience.supervision import REAP_WAIT, STOP_GRACE, Supervisor

logger = logging.getLogger(__name__)

DRAIN_SECONDS: Final = 5
"""How long uvicorn lets requests in progress finish (its ``timeout_graceful_shutdown``)."""

STORE_CLOSE_SECONDS: Final = 3.0
"""How long the event store may take to commit what is queued and close."""

SHUTDOWN_BOUND: Final = DRAIN_SECONDS + STOP_GRACE + REAP_WAIT + STORE_CLOSE_SECONDS + 1.0
"""The most seconds from the stop signal to the exit (15): each step's limit and one spare."""

STOP_SIGNALS: Final = (signal.SIGTERM, signal.SIGINT)


def exit_cleanly_after_stop_signals() -> None:
    """Make a stop signal that reaches Python's own handler end the process with code 0.

    uvicorn handles SIGTERM and SIGINT while it serves, and raises the signal again once it
    has shut down, which would end the process by the signal (or with a KeyboardInterrupt)
    after a clean stop. Called just before uvicorn runs.
    """
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, _exit_cleanly)


def _exit_cleanly(_signum: int, _frame: FrameType | None) -> NoReturn:
    raise SystemExit(0)


@contextmanager
def restarts_held_on_stop_signals(supervisor: Supervisor) -> Iterator[None]:
    """While inside, a stop signal first tells ``supervisor`` to restart nothing, then goes on
    to the handler it had (uvicorn's).

    Only the main thread may set signal handlers; elsewhere (an app served from a thread)
    this does nothing and the supervisor holds when the application stops.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[signal.Signals, Any] = {}
    for stop_signal in STOP_SIGNALS:
        handler = signal.getsignal(stop_signal)
        if callable(handler):
            previous[stop_signal] = handler
            signal.signal(stop_signal, _holding(supervisor, handler))
    try:
        yield
    finally:
        for stop_signal, handler in previous.items():
            signal.signal(stop_signal, handler)


def _holding(
    supervisor: Supervisor, handler: Callable[[int, FrameType | None], Any]
) -> Callable[[int, FrameType | None], Any]:
    def hold_then_handle(signum: int, frame: FrameType | None) -> Any:
        supervisor.hold()
        return handler(signum, frame)

    return hold_then_handle


async def close_within(close: Callable[[], None], seconds: float, what: str) -> None:
    """Run ``close`` on a thread of its own and wait for it at most ``seconds``.

    A close that does not finish in time (a commit stuck on a lock held elsewhere) is left
    behind: its thread is a daemon, so the process still exits, and whatever it was still
    committing had not been acknowledged to anyone.
    """
    closing = threading.Thread(target=close, name=f"audience-close-{what}", daemon=True)
    closing.start()
    await run_in_threadpool(closing.join, seconds)
    if closing.is_alive():
        logger.error("%s did not close within %.0f s; exiting without it", what, seconds)
