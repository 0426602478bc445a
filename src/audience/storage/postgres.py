"""PostgreSQL for every store: connecting, and the dialect of its shared statements.

The event, profile and delivery stores on PostgreSQL all connect through :func:`connect` and
spell their statements with :data:`POSTGRES` (see :mod:`audience.storage.dialect`). Only an
installation with the ``postgres`` extra imports this module.
"""

from __future__ import annotations

from typing import Any, Final

import psycopg

from audience.errors import StorageError
from audience.storage.dialect import SqlDialect

POSTGRES: Final = SqlDialect(
    name="postgres",
    mark="%s",
    least_function="LEAST",
    greatest_function="GREATEST",
    like="ILIKE",
    descending="DESC NULLS LAST",
    insertion_order="id",
    duplicate=psycopg.errors.UniqueViolation,
    failure=psycopg.Error,
)
"""PostgreSQL's spelling of the fragments that differ from SQLite's (see ``storage.dialect``)."""


def connect(url: str) -> psycopg.Connection[Any]:
    """An autocommit connection to ``url``; raises ``StorageError`` when it cannot be made."""
    try:
        return psycopg.connect(url, autocommit=True)
    except psycopg.Error as exc:
        raise StorageError(f"cannot connect to PostgreSQL: {exc}") from exc
