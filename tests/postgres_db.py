"""A PostgreSQL schema of its own for one test: the URL that selects it, dropped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def schema_url(schema: str) -> str:
    """The database URL whose connections work in ``schema``."""
    return f"{POSTGRES}?options=-csearch_path%3D{schema}"


@contextmanager
def fresh_schema() -> Iterator[str]:
    """Create an empty schema, yield the URL that uses it, then drop it with all it holds."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield schema_url(name)
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@contextmanager
def schema_with_source(write_key: str, source: str = "web") -> Iterator[str]:
    """A fresh schema (as ``fresh_schema``) whose event store holds ``source`` with ``write_key``,
    as the processes sharing it find it on their first start."""
    from audience.storage.postgres_events import PostgresEventStore

    with fresh_schema() as url:
        with PostgresEventStore.open(url) as store:
            store.create_source(source, write_key)
        yield url
