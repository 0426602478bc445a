"""Four collector processes on one PostgreSQL database: one person, every merge, no duplicate."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from audience.identity.identifiers import Identifier
from audience.resolution.postgres_profiles import PostgresProfileStore
from audience.storage.postgres_events import PostgresEventStore
from postgres_db import schema_with_source
from support import collectors_sharing, wait_for

WRITE_KEY = "four-hosts-key"
PROCESSES = 4
VISITORS = 48


@pytest.fixture
def database() -> Iterator[str]:
    with schema_with_source(WRITE_KEY) as url:
        yield url


@pytest.fixture
def collectors(database: str, tmp_path: Path) -> Iterator[list[str]]:
    """Four ``audience serve`` processes, as on four hosts, sharing the database."""
    with collectors_sharing(database, tmp_path, PROCESSES) as urls:
        yield urls


def visit(visitor: int) -> list[dict[str, Any]]:
    """A visitor's page view, then the identify that says they are user 42."""
    anonymous_id = f"anon-{visitor}"
    return [
        {
            "type": "page",
            "name": "Pricing",
            "anonymousId": anonymous_id,
            "messageId": f"page-{visitor}",
            "timestamp": f"2026-11-29T10:{visitor % 60:02d}:00.000Z",
        },
        {
            "type": "identify",
            "userId": "user-42",
            "anonymousId": anonymous_id,
            "traits": {"plan": "pro"},
            "messageId": f"identify-{visitor}",
            "timestamp": f"2026-11-29T10:{visitor % 60:02d}:01.000Z",
        },
    ]


def test_four_collectors_make_one_profile_without_losing_a_merge_or_storing_a_duplicate(
    database: str, collectors: list[str]
) -> None:
    def send(job: tuple[int, int]) -> int:
        visitor, attempt = job
        # Each batch goes to one collector and its resend to another.
        url = collectors[(visitor + attempt) % PROCESSES]
        reply = httpx.post(
            f"{url}/v1/batch", json={"batch": visit(visitor)}, auth=(WRITE_KEY, ""), timeout=30
        )
        return reply.status_code

    jobs = [(visitor, attempt) for attempt in (0, 1) for visitor in range(VISITORS)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(send, jobs))
    assert set(statuses) == {200}

    with PostgresEventStore.open(database) as events:
        assert events.count() == 2 * VISITORS
        last = events.last_seq()
    profiles = PostgresProfileStore(database)
    try:
        wait_for(lambda: profiles.cursor() >= last, 90, "resolution of every event", every=0.1)
        profile = profiles.lookup(Identifier("user_id", "user-42"))
        assert profile is not None
        expected = {Identifier("anonymous_id", f"anon-{v}") for v in range(VISITORS)}
        assert set(profile.identifiers) == {Identifier("user_id", "user-42"), *expected}
        assert profile.event_count == 2 * VISITORS
        assert profile.traits["plan"] == "pro"
        for visitor in range(VISITORS):
            found = profiles.lookup(Identifier("anonymous_id", f"anon-{visitor}"))
            assert found is not None
            assert found.id == profile.id
        assert len(profiles.search("")) == 1
        assert not [w for w in profiles.warnings() if w.kind == "merge_refused"]
    finally:
        profiles.close()
