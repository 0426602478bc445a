"""Choosing the profile store: the SQLite file in the data folder, or PostgreSQL."""

from __future__ import annotations

from audience.config import Settings
from audience.identity.graph import Limits
from audience.resolution.profile_store import SqlProfileStore
from audience.resolution.sqlite_profiles import SqliteProfileStore


def open_profile_store(settings: Settings, *, link_email: bool | None = None) -> SqlProfileStore:
    """The profile store ``settings`` name: ``database_url`` when set, else the SQLite file.

    ``identifier_user_limit`` and the weekly limits are recorded by the store's first batch or its
    next ``clear``; a store keeps resolving by the limits its profiles were built with.
    """
    limits = Limits(
        shared_after=settings.identifier_user_limit,
        weekly_anonymous_ids=settings.weekly_anonymous_id_limit,
        weekly_emails=settings.weekly_email_limit,
    )
    if settings.database_url:
        from audience.resolution.postgres_profiles import PostgresProfileStore

        return PostgresProfileStore(settings.database_url, link_email=link_email, limits=limits)
    return SqliteProfileStore.in_directory(settings.data_dir, link_email=link_email, limits=limits)
