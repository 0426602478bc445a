"""The regulation runner over real stores, on SQLite and PostgreSQL: a regulation stopped mid-run
is finished by the next runner, and a lease keeps every other runner away while it lasts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from audience.config import Settings
from audience.destinations.backend import open_delivery_store
from audience.destinations.delivery_store import DeliveryStore
from audience.privacy.desk import RegulationDesk
from audience.privacy.regulations import (
    RegulationRequest,
    RegulationType,
    Requester,
    RequesterKind,
    Status,
    SubjectType,
)
from audience.privacy.runner import LEASE_SECONDS, RegulationRunner
from audience.privacy.suppression import SuppressionList
from audience.resolution.backend import open_profile_store
from audience.resolution.profile_store import SqlProfileStore
from audience.storage.backend import EventStore, open_event_store
from audience.testing import CountingIds, FakeClock
from postgres_db import fresh_schema
from resolution.events import record


@dataclass
class Stores:
    events: EventStore
    profiles: SqlProfileStore
    deliveries: DeliveryStore
    clock: FakeClock
    desk: RegulationDesk

    def runner(self, owner: str, *, halt_after_suppress: bool = False) -> RegulationRunner:
        runner: RegulationRunner

        def settle(seconds: float) -> None:
            if halt_after_suppress:
                runner.halt()

        runner = RegulationRunner(
            self.events,
            self.profiles,
            self.deliveries,
            desk=self.desk,
            suppressions=SuppressionList(self.events, self.desk.secret),
            gate=None,
            clock=self.clock,
            owner=owner,
            resolver_wait_seconds=0.0,
            sleep=settle,
        )
        return runner


@pytest.fixture(params=["sqlite", "postgres"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    if request.param == "postgres":
        with fresh_schema() as url:
            yield from opened(Settings(data_dir=tmp_path, database_url=url))
        return
    yield from opened(Settings(data_dir=tmp_path))


def opened(settings: Settings) -> Iterator[Stores]:
    clock = FakeClock()
    with open_event_store(settings) as events:
        profiles = open_profile_store(settings)
        deliveries = open_delivery_store(settings)
        try:
            events.append(
                [
                    record(1, type="page", anonymousId="ada-anon"),
                    record(2, type="identify", anonymousId="ada-anon", userId="ada"),
                    record(3, type="identify", anonymousId="bob-anon", userId="bob"),
                ]
            ).result()
            profiles.apply(events.read_after(0, 100))
            desk = RegulationDesk(events, clock=clock, ids=CountingIds())
            yield Stores(events, profiles, deliveries, clock, desk)
        finally:
            deliveries.close()
            profiles.close()


def delete_ada(stores: Stores) -> str:
    request = RegulationRequest(RegulationType.SUPPRESS_WITH_DELETE, SubjectType.USER_ID, ("ada",))
    return stores.desk.request(request, Requester(RequesterKind.CLI, "test")).id


def test_a_regulation_stopped_mid_run_is_finished_by_the_next_runner(stores: Stores) -> None:
    regulation_id = delete_ada(stores)
    assert stores.runner("first", halt_after_suppress=True).run_pending() == 0
    halfway = stores.desk.get(regulation_id)
    assert halfway is not None
    assert halfway.status is Status.RUNNING
    assert [step.state for step in halfway.steps[:3]] == ["done", "done", "pending"]
    assert len(stores.events.read_after(0, 100)) == 3, "nothing deleted yet"

    assert stores.runner("after the restart").run_pending() == 1
    ended = stores.desk.get(regulation_id)
    assert ended is not None
    assert ended.status is Status.FINISHED
    assert [e.message["userId"] for e in stores.events.read_after(0, 100)] == ["bob"]
    assert stores.events.regulation_subjects(regulation_id) == [], "no personal value is kept"


def test_a_lease_keeps_other_runners_away_until_it_runs_out(stores: Stores) -> None:
    """A runner that died holding a regulation leaves it to the others once its lease ends."""
    regulation_id = delete_ada(stores)
    now = stores.clock.now().timestamp()
    assert stores.events.claim_regulation(regulation_id, "crashed", now, now + LEASE_SECONDS)
    other = stores.runner("other")
    assert other.run_pending() == 0
    assert len(stores.events.read_after(0, 100)) == 3
    stores.clock.advance(LEASE_SECONDS + 1)
    assert other.run_pending() == 1
    assert [e.message["userId"] for e in stores.events.read_after(0, 100)] == ["bob"]


def test_a_finished_regulation_is_never_run_again(stores: Stores) -> None:
    delete_ada(stores)
    runner = stores.runner("one")
    assert runner.run_pending() == 1
    assert runner.run_pending() == 0


def test_a_delete_only_regulation_keeps_an_earlier_suppression_of_the_person(
    stores: Stores,
) -> None:
    requester = Requester(RequesterKind.CLI, "test")
    suppress = RegulationRequest(RegulationType.SUPPRESS, SubjectType.USER_ID, ("ada",))
    stores.desk.request(suppress, requester)
    runner = stores.runner("one")
    runner.run_pending()
    suppressed = stores.events.suppressed_hashes()
    assert len(suppressed) == 2
    delete = RegulationRequest(RegulationType.DELETE_ONLY, SubjectType.USER_ID, ("ada",))
    stores.desk.request(delete, requester)
    runner.run_pending()
    assert stores.events.suppressed_hashes() == suppressed
