"""Resolvers in several processes share one PostgreSQL profile store without losing a merge."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from audience.eventlog import StoredEvent
from audience.identity.identifiers import Identifier
from audience.resolution.postgres_profiles import PostgresProfileStore
from audience.resolution.resolver import Resolver
from postgres_db import fresh_schema
from resolution.events import make_event

VISITORS = 150


class Feed:
    """A fixed event log."""

    def __init__(self, events: list[StoredEvent]) -> None:
        self.events = events

    def read_after(self, seq: int, limit: int) -> list[StoredEvent]:
        return [event for event in self.events if event.seq > seq][:limit]

    def get_many(self, seqs: list[int]) -> list[StoredEvent]:
        wanted = set(seqs)
        return [event for event in self.events if event.seq in wanted]

    def last_seq(self) -> int:
        return self.events[-1].seq if self.events else 0


@pytest.fixture
def database() -> Iterator[str]:
    with fresh_schema() as url:
        yield url


def test_three_resolvers_racing_over_one_log_make_the_profiles_one_resolver_makes(
    database: str,
) -> None:
    events: list[StoredEvent] = []
    for visitor in range(VISITORS):
        anonymous_id = f"anon-{visitor}"
        events.append(make_event(2 * visitor + 1, "page", anonymous_id=anonymous_id))
        events.append(
            make_event(2 * visitor + 2, "identify", anonymous_id=anonymous_id, user_id="user-7")
        )
    feed = Feed(events)
    stores = [PostgresProfileStore(database) for _ in range(3)]
    try:
        resolvers = [Resolver(feed, store, batch_size=7) for store in stores]
        failures: list[BaseException] = []

        def run(resolver: Resolver) -> None:
            try:
                for _ in range(10_000):
                    if resolver.step() == 0 and resolver.store.cursor() >= feed.last_seq():
                        return
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=run, args=(resolver,)) for resolver in resolvers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        reader = stores[0]
        assert reader.cursor() == feed.last_seq()
        profile = reader.lookup(Identifier("user_id", "user-7"))
        assert profile is not None
        assert profile.identifier_count == VISITORS + 1
        assert profile.event_count == 2 * VISITORS
        assert len(reader.search("")) == 1
    finally:
        for store in stores:
            store.close()
