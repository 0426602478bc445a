from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from audience.resolution import SQLiteProfileStore


@pytest.fixture
def profile_store(tmp_path: Path) -> Iterator[SQLiteProfileStore]:
    store = SQLiteProfileStore.in_directory(tmp_path / "data")
    yield store
    store.close()


@pytest.fixture
def store_factory(tmp_path: Path) -> Iterator[Callable[..., SQLiteProfileStore]]:
    opened: list[SQLiteProfileStore] = []
    counter = iter(range(1_000_000))

    def build(**options: Any) -> SQLiteProfileStore:
        store = SQLiteProfileStore(tmp_path / f"profiles-{next(counter)}.sqlite3", **options)
        opened.append(store)
        return store

    yield build
    for store in opened:
        store.close()
