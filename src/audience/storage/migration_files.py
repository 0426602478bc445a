"""The numbered schema files of every store, for both backends' migration runners.

Each store (``events``, ``profiles``, ``deliveries``) keeps its files in
``audience/storage/migrations/<store>/<backend>/``, named ``0001_first.sql``,
``0002_next.sql`` ...: the one source of that store's schema on that backend.
:mod:`audience.storage.sqlite_migrations` and :mod:`audience.storage.postgres_migrations` apply
them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Literal

from audience.errors import StorageError

Backend = Literal["sqlite", "postgres"]

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    """One numbered file of a store."""

    version: int
    name: str
    sql: str


def migrations(component: str, backend: Backend) -> list[Migration]:
    """The migration files of ``component`` on ``backend``, oldest first."""
    folder = resources.files("audience.storage.migrations").joinpath(component, backend)
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
    if not found:
        raise StorageError(f"no {backend} migrations for {component!r}")
    found.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in found]
    if len(set(versions)) != len(versions):
        raise StorageError(f"two {component} migrations for {backend} share a number")
    return found
