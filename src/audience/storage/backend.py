"""Choosing the event store: SQLite in the data folder, or PostgreSQL when a database URL is set.

The PostgreSQL modules are imported only when a database URL is given, so an installation
without the ``postgres`` extra runs on SQLite as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

from audience.config import Settings
from audience.storage.sqlite_events import SqliteEventStore

if TYPE_CHECKING:
    from audience.storage.postgres_events import PostgresEventStore

EventStore: TypeAlias = "SqliteEventStore | PostgresEventStore"
"""Either event store: both implement ``EventSink``, ``EventFeed``, ``EventQuery`` and
``SourceRegistry`` with the same methods."""


def open_event_store(settings: Settings) -> EventStore:
    """The event store ``settings`` name: ``database_url`` when set, else the SQLite file."""
    if settings.database_url:
        from audience.storage.postgres_events import PostgresEventStore

        return PostgresEventStore.open(settings.database_url)
    return SqliteEventStore.open(settings.database_path, synchronous=settings.synchronous)


def event_store_exists(settings: Settings) -> bool:
    """Whether there is a store to read: always for PostgreSQL, else when the file exists."""
    return bool(settings.database_url) or settings.database_path.exists()
