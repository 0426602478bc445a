"""What the pages read, as small protocols: the application wires them to the stores.

The pages know no feature: the event store, resolution's profile store and the destinations'
delivery state are handed to them as these views.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from audience.eventlog import EventFeed
from audience.identity.graph import OperatorAction
from audience.identity.identifiers import Identifier
from audience.identity.profiles import IdentityWarning, LinkedEvent, MergeRecord, Profile
from audience.jsontypes import JSONObject
from audience.storage.base import Source


class EventReader(EventFeed, Protocol):
    """The committed events and the sources that sent them."""

    def list_sources(self) -> list[Source]:
        """Every source, oldest first."""
        ...


class ProfileReader(Protocol):
    """The profiles resolution keeps, and the position in the log they reflect."""

    def cursor(self) -> int:
        """The ``seq`` of the last event applied; 0 before the first."""
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
        """The profile's events in time order, after the position ``after`` when given."""
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


class ProfileActions(Protocol):
    """The operators' corrections the profile page's forms make (the profile store)."""

    def merge(
        self, profiles: tuple[str, str], *, action_id: str, at: str, actor: str, reason: str
    ) -> OperatorAction:
        """Merge two profiles by id; ``NotFoundError`` or ``ConflictError`` naming the field."""
        ...

    def split(
        self,
        profile_id: str,
        identifier: Identifier,
        *,
        action_id: str,
        at: str,
        actor: str,
        reason: str,
    ) -> OperatorAction:
        """Split ``identifier`` off the profile; the profiles are rebuilt from the event log."""
        ...


class DestinationReport(Protocol):
    """Where one destination stands: its settings (secrets hidden) and delivery progress."""

    @property
    def settings(self) -> JSONObject:
        """The destination's settings with secrets hidden; ``options`` holds its target."""
        ...

    @property
    def last_delivered_at(self) -> float | None:
        """Unix seconds of the last delivery, if any."""
        ...

    @property
    def last_error_at(self) -> float | None:
        """Unix seconds of the last failure, if any."""
        ...

    def to_json(self) -> JSONObject:
        """The whole report as a JSON object."""
        ...


DestinationReports = Callable[[], list[DestinationReport]]
"""Every destination's report, in the order they were added; called on a worker thread."""

Snippet = Callable[[str, str], str]
"""The browser snippet of a write key, its host pointed at an origin."""
