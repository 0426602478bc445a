"""The few spellings in which SQLite and PostgreSQL differ, named once per database driver.

Every store writes its statements once, in the SQL both databases speak, and takes from a
:class:`SqlDialect` only the fragments that differ: the parameter placeholder, the two-argument
minimum and maximum, the case-insensitive ``LIKE``, a descending order that puts ``NULL`` last,
and the driver's error classes. Both speak ``INSERT ... ON CONFLICT ... DO NOTHING`` (insert or
ignore), ``ON CONFLICT ... DO UPDATE SET ... = excluded....`` (upsert) and ``RETURNING``, so
those need no fragment. :data:`SQLITE` is here; ``audience.storage.postgres.POSTGRES`` is beside
the PostgreSQL driver, which an installation without the ``postgres`` extra lacks.

:class:`SqlConnection` is what a store's shared statements run on: a ``sqlite3.Connection``
and a ``psycopg.Connection`` both are one. :class:`SqlSession` adds ``executemany``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol


class SqlRows(Protocol):
    """The result of one statement, as both drivers' cursors give it."""

    @property
    def rowcount(self) -> int:
        """How many rows the statement changed."""
        ...

    def fetchone(self) -> Any:
        """The next row, or ``None``."""
        ...

    def fetchall(self) -> list[Any]:
        """The remaining rows."""
        ...

    def __iter__(self) -> Iterator[Any]:
        """Each remaining row."""
        ...


class SqlConnection(Protocol):
    """A connection the shared statements run on (``sqlite3`` or ``psycopg``, autocommit)."""

    def execute(self, sql: str, parameters: Sequence[Any], /) -> SqlRows:
        """Run one statement with its parameters."""
        ...

    def close(self) -> None:
        """Close the connection."""
        ...


class SqlSession(Protocol):
    """A connection that runs statements one at a time or once per row of parameters.

    ``sqlite3.Connection`` is one; psycopg keeps ``executemany`` on its cursors, so the
    PostgreSQL profile store wraps its connection in one.
    """

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> SqlRows:
        """Run one statement with its parameters."""
        ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> object:
        """Run one statement once per row of parameters."""
        ...


@dataclass(frozen=True)
class SqlDialect:
    """What the shared statements need to know about one database driver."""

    name: str
    """``sqlite`` or ``postgres``: also the folder of the store's migrations."""
    mark: str
    """The driver's parameter placeholder (``?`` or ``%s``)."""
    least_function: str
    """The smaller of two values (SQLite's two-argument ``min``, PostgreSQL's ``LEAST``)."""
    greatest_function: str
    """The larger of two values (SQLite's two-argument ``max``, PostgreSQL's ``GREATEST``)."""
    like: str
    """``LIKE`` ignoring ASCII case (SQLite's ``LIKE`` does; PostgreSQL's ``ILIKE``)."""
    descending: str
    """A descending order that puts ``NULL`` last (SQLite's ``DESC`` does)."""
    insertion_order: str
    """The column that orders a table's rows oldest first (``sources``)."""
    duplicate: type[Exception]
    """The driver's error for a key that is already taken."""
    failure: type[Exception]
    """The driver's base error class."""

    def marks(self, count: int) -> str:
        """``count`` placeholders, comma-separated."""
        return ", ".join([self.mark] * count)

    def least(self, first: str, second: str) -> str:
        """The smaller of two SQL expressions."""
        return f"{self.least_function}({first}, {second})"

    def greatest(self, first: str, second: str) -> str:
        """The larger of two SQL expressions."""
        return f"{self.greatest_function}({first}, {second})"


SQLITE: Final = SqlDialect(
    name="sqlite",
    mark="?",
    least_function="min",
    greatest_function="max",
    like="LIKE",
    descending="DESC",
    insertion_order="rowid",
    duplicate=sqlite3.IntegrityError,
    failure=sqlite3.Error,
)
