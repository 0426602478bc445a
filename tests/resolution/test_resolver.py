from __future__ import annotations

from collections.abc import Callable

from audience.resolution import Identifier, Resolver, SqliteProfileStore
from audience.storage.backend import EventStore
from resolution.events import FLOW

OpenProfiles = Callable[[], SqliteProfileStore]


def test_the_resolver_follows_commits_on_its_thread(
    events: EventStore, open_profiles: OpenProfiles
) -> None:
    profiles = open_profiles()
    resolver = Resolver(events, profiles)
    events.add_commit_listener(resolver.notify)
    resolver.start()
    try:
        events.append(FLOW).result()
        assert resolver.wait_for(5, timeout=10)
        person = profiles.lookup(Identifier("user_id", "u1"))
        assert person is not None
        assert person.event_count == 4
    finally:
        resolver.stop()
        profiles.close()


def test_a_restarted_resolver_resumes_after_the_last_batch_and_counts_nothing_twice(
    events: EventStore, open_profiles: OpenProfiles
) -> None:
    events.append(FLOW[:3]).result()
    first = open_profiles()
    Resolver(events, first, batch_size=2).catch_up()
    first.close()
    events.append(FLOW[3:]).result()
    second = open_profiles()
    try:
        resolver = Resolver(events, second, batch_size=2)
        assert resolver.applied == 3
        assert resolver.catch_up() == 2
        person = second.lookup(Identifier("user_id", "u1"))
        assert person is not None
        assert person.event_count == 4
        assert second.cursor() == 5
    finally:
        second.close()


def test_rebuild_recomputes_the_same_profiles_from_the_event_log(
    events: EventStore, open_profiles: OpenProfiles
) -> None:
    events.append(FLOW).result()
    profiles = open_profiles()
    try:
        resolver = Resolver(events, profiles)
        resolver.catch_up()
        before = profiles.search("", limit=100)
        assert resolver.rebuild() == 5
        assert profiles.search("", limit=100) == before
    finally:
        profiles.close()


def test_a_rebuild_beside_a_running_resolver_skips_nothing(
    events: EventStore, open_profiles: OpenProfiles
) -> None:
    """``audience resolve --rebuild`` while the server's resolver follows the same store."""
    events.append(FLOW).result()
    server_side = open_profiles()
    command_side = open_profiles()
    try:
        following = Resolver(events, server_side, batch_size=2)
        following.catch_up()
        command_side.clear()
        following.step()
        Resolver(events, command_side, batch_size=2).catch_up()
        following.catch_up()
        person = server_side.lookup(Identifier("user_id", "u1"))
        assert person is not None
        assert person.event_count == 4
        assert server_side.cursor() == 5
    finally:
        server_side.close()
        command_side.close()
