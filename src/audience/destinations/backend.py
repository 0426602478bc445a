"""Choosing the delivery store: the SQLite file in the data folder, or PostgreSQL."""

from __future__ import annotations

from audience.config import Settings
from audience.destinations.delivery_store import DeliveryStore
from audience.destinations.sqlite_deliveries import SqliteDeliveryStore


def open_delivery_store(settings: Settings) -> DeliveryStore:
    """The delivery store ``settings`` name: ``database_url`` when set, else the SQLite file."""
    if settings.database_url:
        from audience.destinations.postgres_deliveries import PostgresDeliveryStore

        return PostgresDeliveryStore(settings.database_url)
    return SqliteDeliveryStore.in_data_dir(settings.data_dir)
