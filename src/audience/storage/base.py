"""The storage contract: what the collector writes, how sources are found, how events are listed."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from audience.eventlog import StoredEvent


class EventRecord(NamedTuple):
    """One enriched message ready to commit, with the columns the store indexes.

    A tuple so that a batch of records goes to the database without copying.
    ``message`` is the serialized JSON of the enriched message (wire names).
    """

    source: str
    message_id: str
    type: str
    user_id: str | None
    anonymous_id: str | None
    event: str | None
    received_at: str
    timestamp: str | None
    request_ip: str | None
    message: bytes


@dataclass(frozen=True)
class AppendResult:
    """What became of one ``append``: ``stored`` new events and ``duplicates`` already there."""

    stored: int
    duplicates: int


@dataclass(frozen=True)
class Source:
    """A named producer of events, recognised by its write key."""

    name: str
    write_key: str
    created_at: str


@dataclass(frozen=True)
class EventFilter:
    """Optional equality filters of an event listing; ``None`` means any value."""

    source: str | None = None
    type: str | None = None
    user_id: str | None = None
    anonymous_id: str | None = None
    event: str | None = None


@dataclass(frozen=True)
class EventRange:
    """The events an export reads: of one source or all, received in ``[since, until)`` (the
    stored form of ``receivedAt``), at positions up to ``last_seq`` when given."""

    source: str | None = None
    since: str | None = None
    until: str | None = None
    last_seq: int | None = None


class EventSink(Protocol):
    """Where accepted events are committed."""

    def append(self, records: Sequence[EventRecord]) -> Future[AppendResult]:
        """Commit ``records``; the future resolves only once they are durable.

        A record whose (source, message_id) is already stored is counted as a duplicate
        and not stored again. The future fails with ``StorageError`` when the commit fails.
        """
        ...

    def append_async(self, records: Sequence[EventRecord]) -> asyncio.Future[AppendResult]:
        """``append`` from a running event loop: the returned future belongs to that loop."""
        ...


class SourceRegistry(Protocol):
    """The sources and their write keys."""

    def create_source(self, name: str, write_key: str | None = None) -> Source:
        """Add a source; a new random write key is made when none is given."""
        ...

    def list_sources(self) -> list[Source]:
        """Every source, oldest first."""
        ...

    def source_by_key(self, write_key: str) -> Source | None:
        """The source holding ``write_key``, if any."""
        ...

    def source_by_name(self, name: str) -> Source | None:
        """The source called ``name``, if any."""
        ...


class EventQuery(Protocol):
    """Listings of stored events for operators, read page by page from a position (``seq``)."""

    def recent(
        self, event_filter: EventFilter, limit: int, before: int | None = None
    ) -> list[StoredEvent]:
        """Up to ``limit`` matching events newest first, all older than ``before`` when given."""
        ...

    def newer(self, event_filter: EventFilter, after: int, limit: int) -> list[StoredEvent]:
        """Up to ``limit`` matching events newer than ``after``, oldest first (the next ones)."""
        ...

    def read_range(self, event_range: EventRange, after: int, limit: int) -> list[StoredEvent]:
        """Up to ``limit`` events of ``event_range`` after position ``after``, oldest first.

        An export pages through the log with it, each page starting after the last one's
        final ``seq``: memory stays bounded however long the log is.
        """
        ...
