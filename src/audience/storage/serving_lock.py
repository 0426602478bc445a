"""The serving lock of a SQLite data folder: who serves it, and who may replace its files.

Every ``audience serve`` on a data folder holds a shared advisory lock on ``serve.lock`` in it
for as long as it runs; ``audience restore`` takes the same lock exclusively, so it never
replaces the files under a running server, and no server starts while it restores. The kernel
drops the lock when the process ends, even by SIGKILL, so a crash leaves nothing to clean.
"""

from __future__ import annotations

import fcntl
from pathlib import Path
from types import TracebackType
from typing import IO, Final, Self

from audience.errors import StorageError

LOCK_NAME: Final = "serve.lock"
"""The lock file's name inside the data folder."""


class ServingLock:
    """The lock on one data folder, held shared (serving) or exclusive (restoring).

    ``acquire`` raises ``StorageError`` at once when the other kind is held; ``release`` (or
    leaving the ``with`` block) lets it go.
    """

    def __init__(self, data_dir: Path, *, exclusive: bool) -> None:
        self.path = data_dir / LOCK_NAME
        self.exclusive = exclusive
        self._handle: IO[bytes] | None = None

    def acquire(self) -> Self:
        """Take the lock without waiting; ``StorageError`` says who holds it otherwise."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("ab")
        mode = fcntl.LOCK_EX if self.exclusive else fcntl.LOCK_SH
        try:
            fcntl.flock(handle, mode | fcntl.LOCK_NB)
        except OSError as exc:
            handle.close()
            folder = self.path.parent
            if self.exclusive:
                raise StorageError(
                    f"audience serve is running on {folder}: stop it before restoring"
                ) from exc
            raise StorageError(f"{folder} is being restored: start the server afterwards") from exc
        self._handle = handle
        return self

    def release(self) -> None:
        """Let the lock go (nothing happens when it is not held)."""
        handle, self._handle = self._handle, None
        if handle is not None:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()

    def __enter__(self) -> Self:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()
