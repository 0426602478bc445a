from __future__ import annotations

from collections.abc import Iterator

import pytest

from postgres_db import fresh_schema


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """Tests that take it run on both stores."""
    return str(request.param)


@pytest.fixture
def database_url(backend: str) -> Iterator[str | None]:
    """The URL of a fresh PostgreSQL schema for the postgres backend, ``None`` for SQLite."""
    if backend != "postgres":
        yield None
        return
    with fresh_schema() as url:
        yield url
