"""What the supervision tests share: telling whether a process lives, reading a child's notes."""

from __future__ import annotations

from pathlib import Path


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


def journal_lines(path: Path) -> list[str]:
    """The lines a test child has noted so far."""
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []
