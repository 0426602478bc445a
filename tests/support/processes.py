"""Ending the server processes the tests start: asked to stop, or killed as a crash would."""

from __future__ import annotations

import signal
import subprocess
from typing import Any


def stop_process(process: subprocess.Popen[Any] | None, seconds: float) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``seconds``; nothing if it has ended."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=seconds)


def kill_process(process: subprocess.Popen[Any] | None, seconds: float) -> None:
    """SIGKILL, as a crash would, and reap it; nothing if it has ended."""
    if process is None or process.poll() is not None:
        return
    process.kill()
    process.wait(timeout=seconds)
