"""The profile store protocol: where resolution keeps the identity graph and its cursor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from audience.eventlog import StoredEvent
from audience.identity.identifiers import Identifier
from audience.identity.profiles import IdentityWarning, LinkedEvent, MergeRecord, Profile


class ProfileStore(Protocol):
    """Profiles built from the event log, plus the position in the log they reflect."""

    def cursor(self) -> int:
        """The ``seq`` of the last event applied; 0 before the first."""
        ...

    def apply(self, events: Sequence[StoredEvent]) -> None:
        """Apply events in ``seq`` order and move the cursor past them, all in one transaction.

        Events at or below the cursor are skipped, so applying a batch twice changes nothing.
        """
        ...

    def clear(self) -> None:
        """Forget every profile and reset the cursor to 0 (for a rebuild)."""
        ...

    def lookup(self, identifier: Identifier) -> Profile | None:
        """The profile holding this identifier, if any."""
        ...

    def get(self, profile_id: str) -> Profile | None:
        """A profile by id; an id the profile had before a merge still finds it."""
        ...

    def events(
        self, profile_id: str, limit: int = 1000, after: tuple[str, int] | None = None
    ) -> list[LinkedEvent]:
        """The profile's events in time order, each with the identifier that linked it; only
        those after the position ``(order_key, seq)`` when ``after`` is given."""
        ...

    def events_before(
        self, profile_id: str, before: tuple[str, int], limit: int
    ) -> list[LinkedEvent]:
        """The profile's events just before the position ``before``, nearest first."""
        ...

    def search(self, query: str, limit: int = 50) -> list[Profile]:
        """Profiles whose identifier or trait value contains ``query``; newest activity first."""
        ...

    def merges(self, profile_id: str) -> list[MergeRecord]:
        """The joins and refused joins that touch this profile, in time order."""
        ...

    def warnings(self, limit: int = 100) -> list[IdentityWarning]:
        """Refused merges and unusable identifiers, newest first."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
