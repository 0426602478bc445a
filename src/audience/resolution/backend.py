"""Choosing the profile store: the SQLite file in the data folder, or PostgreSQL."""

from __future__ import annotations

from audience.config import Settings
from audience.resolution.sqlite import SQLiteProfileStore


def open_profile_store(settings: Settings, *, link_email: bool | None = None) -> SQLiteProfileStore:
    """The profile store ``settings`` name: ``database_url`` when set, else the SQLite file.

    The PostgreSQL store is a :class:`SQLiteProfileStore` in type only: it runs the same rules
    through PostgreSQL.
    """
    if settings.database_url:
        from audience.resolution.postgres import PostgresProfileStore

        return PostgresProfileStore(settings.database_url, link_email=link_email)
    return SQLiteProfileStore.in_directory(settings.data_dir, link_email=link_email)
