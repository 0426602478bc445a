"""Storage: the durable event log and the sources that write to it."""

from __future__ import annotations

from audience.storage.base import (
    AppendResult,
    EventFilter,
    EventQuery,
    EventRecord,
    EventSink,
    Source,
    SourceRegistry,
)
from audience.storage.sqlite_events import SqliteEventStore

__all__ = [
    "AppendResult",
    "EventFilter",
    "EventQuery",
    "EventRecord",
    "EventSink",
    "Source",
    "SourceRegistry",
    "SqliteEventStore",
]
