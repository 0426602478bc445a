"""The SDK runs where POSIX's file locks and fork hooks do not exist, as on Windows.

The SDK's own suite runs again in an interpreter where ``import fcntl`` fails and
``os.register_at_fork`` is gone (``tests/support/without_posix``). Its cross-process tests
(several processes sharing one storage directory, a killed sender whose outbox a restart sends)
and its fork test must pass there too. The suite's tests against a real ``audience serve`` stay
out: the server runs on POSIX systems only.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
WITHOUT_POSIX = TESTS / "support" / "without_posix"


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(WITHOUT_POSIX), env.get("PYTHONPATH")]))
    return env


def test_the_stand_in_interpreter_has_no_fcntl_and_no_fork_hooks() -> None:
    probe = (
        "import os\n"
        "try:\n    import fcntl\nexcept ImportError:\n    fcntl = None\n"
        "print(fcntl is None, hasattr(os, 'register_at_fork'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env=_environment(),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.split() == ["True", "False"]


def test_the_sdk_suite_passes_without_fcntl_and_fork_hooks() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(TESTS / "sdk"),
            "-q",
            "-p",
            "no:cacheprovider",
            "--ignore",
            str(TESTS / "sdk" / "test_against_audience_serve.py"),
            # filelock says once that it locks with marker files here: that is the point.
            "-W",
            "ignore:only soft file lock is available:UserWarning",
        ],
        cwd=TESTS.parent,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in summary
    assert "skipped" not in summary
    assert "failed" not in summary
