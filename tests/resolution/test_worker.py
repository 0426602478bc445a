"""The resolver as a supervised child process: woken by commits, stopped on request."""

from __future__ import annotations

from pathlib import Path

from audience.config import Settings
from audience.resolution import Identifier
from audience.resolution.backend import open_profile_store
from audience.resolution.resolver_process import CHILD_NAME, resolver_child
from audience.storage.backend import open_event_store
from audience.supervision import Supervisor
from resolution.events import FLOW
from support import wait_for


def test_the_resolver_child_follows_commits_and_stops_when_asked(
    tmp_path: Path, database_url: str | None
) -> None:
    settings = Settings(data_dir=tmp_path, synchronous="normal", database_url=database_url)
    events = open_event_store(settings)
    profiles = open_profile_store(settings)
    supervisor = Supervisor([resolver_child(settings)])
    with events:
        events.add_commit_listener(supervisor.doorbell(CHILD_NAME).ring)
        supervisor.start()
        try:
            events.append(FLOW).result()
            wait_for(lambda: profiles.cursor() >= 5, 30, "the resolver's progress", every=0.02)
            person = profiles.lookup(Identifier("user_id", "u1"))
            assert person is not None
            assert person.event_count == 4
        finally:
            supervisor.stop()
            profiles.close()
    (status,) = supervisor.statuses()
    assert status.state == "stopped"
    assert status.restarts == 0
    assert status.last_exit is not None
    assert status.last_exit.code == 0
