"""The committed event log as its readers see it; resolution and destinations read it in order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from audience.jsontypes import JSONObject


@dataclass(frozen=True)
class StoredEvent:
    """One committed message.

    ``seq`` is its position in the log: it increases in commit order, so a reader that
    remembers the last ``seq`` it handled resumes exactly there. ``message`` is the
    enriched message as stored, with wire field names (``userId``, ``receivedAt`` ...).
    """

    seq: int
    source: str
    message: JSONObject


class EventFeed(Protocol):
    """Read access to the committed event log, in commit order."""

    def read_after(self, seq: int, limit: int) -> list[StoredEvent]:
        """Up to ``limit`` events with a ``seq`` greater than ``seq``, oldest first."""
        ...

    def get_many(self, seqs: Sequence[int]) -> list[StoredEvent]:
        """The events with these positions, in ``seq`` order; unknown positions are left out."""
        ...

    def last_seq(self) -> int:
        """The position of the newest committed event, 0 when the log is empty."""
        ...
