"""Retention: old events leave the event log once the profiles and every destination have them,
on SQLite and PostgreSQL, with the clock injected."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from click.testing import CliRunner

from audience.cli import main
from audience.collector.metrics import Metrics
from audience.config import load_settings
from audience.destinations.base import DestinationConfig
from audience.destinations.delivery_store import DeliveryStore
from audience.destinations.postgres_deliveries import PostgresDeliveryStore
from audience.destinations.sqlite_deliveries import SqliteDeliveryStore
from audience.errors import ValidationError
from audience.identity.identifiers import Identifier
from audience.resolution.postgres_profiles import PostgresProfileStore
from audience.resolution.profile_store import SqlProfileStore
from audience.resolution.sqlite_profiles import SqliteProfileStore
from audience.serving.app import build_server_app
from audience.serving.retention import Retention, RetentionPruner
from audience.storage.backend import EventStore
from audience.storage.base import EventRecord
from audience.storage.postgres_events import PostgresEventStore
from audience.storage.sqlite_events import SqliteEventStore
from audience.testing import FakeClock
from audience.tracking import format_timestamp
from postgres_db import fresh_schema
from support import LiveServer, wait_for

DAY_ZERO = datetime(2026, 1, 1, tzinfo=UTC)
HOOK = DestinationConfig("hook", "webhook", {"url": "http://127.0.0.1:9/h", "secret": "k"})
SLOW = DestinationConfig("slow", "webhook", {"url": "http://127.0.0.1:9/s", "secret": "k"})
WAREHOUSE = DestinationConfig("lake", "webhook", {"url": "http://127.0.0.1:9/l", "secret": "k"})


@dataclass
class Stores:
    events: EventStore
    profiles: SqlProfileStore
    deliveries: DeliveryStore
    location: list[str]
    """The command-line options that point ``audience`` at these stores."""

    def resolve(self) -> None:
        self.profiles.apply(self.events.read_after(self.profiles.cursor(), 100_000))


@pytest.fixture(params=["sqlite", "postgres"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    with ExitStack() as stack:
        events: EventStore
        profiles: SqlProfileStore
        deliveries: DeliveryStore
        data = tmp_path / "data"
        if request.param == "postgres":
            url = stack.enter_context(fresh_schema())
            events = PostgresEventStore.open(url)
            profiles = PostgresProfileStore(url)
            deliveries = PostgresDeliveryStore(url)
            location = ["--data", str(data), "--database-url", url]
        else:
            events = SqliteEventStore.open(data / "events.sqlite3")
            profiles = SqliteProfileStore.in_directory(data)
            deliveries = SqliteDeliveryStore.in_data_dir(data)
            location = ["--data", str(data)]
        stack.callback(events.close)
        stack.callback(profiles.close)
        stack.callback(deliveries.close)
        events.create_source("web")
        events.create_source("app")
        yield Stores(events, profiles, deliveries, location)


def day(number: float) -> str:
    return format_timestamp(DAY_ZERO + timedelta(days=number))


def record(number: int, received_day: float, source: str = "web", **fields: Any) -> EventRecord:
    message: dict[str, Any] = {
        "type": "track",
        "event": "Clicked",
        "messageId": f"m-{source}-{number}",
        "anonymousId": f"anon-{number % 3}",
        "timestamp": day(received_day),
        "receivedAt": day(received_day),
        **fields,
    }
    return EventRecord(
        source=source,
        message_id=message["messageId"],
        type=message["type"],
        user_id=message.get("userId"),
        anonymous_id=message.get("anonymousId"),
        event=message.get("event"),
        received_at=message["receivedAt"],
        timestamp=message["timestamp"],
        request_ip=None,
        message=orjson.dumps(message),
    )


def append(stores: Stores, *records: EventRecord) -> None:
    stores.events.append(list(records)).result()


def a_month_of_events(stores: Stores) -> None:
    """One event a day for days 0 to 29 from ``web`` (anonymous ids anon-0 to anon-2 in turn);
    on day 2 anon-2 identifies as user-7."""
    append(
        stores,
        *(
            record(n, n, type="identify", userId="user-7", traits={"plan": "pro"})
            if n == 2
            else record(n, n)
            for n in range(30)
        ),
    )


def retention(stores: Stores, now_day: float, days: int | None = 10) -> Retention:
    clock = FakeClock(DAY_ZERO + timedelta(days=now_day))
    return Retention(stores.events, stores.profiles, stores.deliveries, days=days, clock=clock)


def delivered_through(stores: Stores, seq: int) -> None:
    """Both destinations claim everything up to ``seq`` and deliver it."""
    for config in (HOOK, WAREHOUSE):
        if config.name not in [c.name for c in stores.deliveries.configs()]:
            stores.deliveries.add(config, 0, now=0.0)
        cursor = stores.deliveries.cursor(config.name)
        batch = stores.deliveries.claim(
            config.name, cursor, seq, list(range(cursor + 1, seq + 1)), now=0.0
        )
        if batch is not None:
            stores.deliveries.delivered(batch, now=0.0)


def days_stored(stores: Stores, source: str = "web") -> list[str]:
    return [
        event.message["receivedAt"][:10]
        for event in stores.events.read_after(0, 1000)
        if event.source == source
    ]


def test_events_older_than_the_retention_go_once_profiles_and_destinations_have_them(
    stores: Stores,
) -> None:
    a_month_of_events(stores)
    stores.resolve()
    delivered_through(stores, 30)
    done = retention(stores, now_day=30).run()
    assert done.pruned == 20
    assert days_stored(stores)[0] == day(20)[:10]
    assert len(days_stored(stores)) == 10
    assert stores.events.events_pruned() == 20


def test_events_the_resolver_has_not_applied_are_kept(stores: Stores) -> None:
    append(stores, *(record(n, n) for n in range(10)))
    stores.profiles.apply(stores.events.read_after(0, 4))
    delivered_through(stores, 10)
    assert retention(stores, now_day=100).run().pruned == 4
    assert [event.seq for event in stores.events.read_after(0, 100)] == list(range(5, 11))


def test_events_a_destination_has_not_claimed_or_holds_in_a_batch_are_kept(
    stores: Stores,
) -> None:
    append(stores, *(record(n, n) for n in range(10)))
    stores.resolve()
    delivered_through(stores, 8)
    # A third destination's batch of 7 and 8 is still open; the hook dead-lettered 9 (it can be
    # replayed).
    stores.deliveries.add(SLOW, 6, now=0.0)
    stores.deliveries.claim("slow", 6, 8, [7, 8], now=0.0)
    batch = stores.deliveries.claim("hook", 8, 9, [9], now=0.0)
    assert batch is not None
    stores.deliveries.failed(batch, "refused", now=0.0, next_attempt_at=0.0, dead=True)
    assert retention(stores, now_day=100).run().pruned == 6
    assert [event.seq for event in stores.events.read_after(0, 100)] == [7, 8, 9, 10]


def test_without_a_destination_the_profiles_alone_decide(stores: Stores) -> None:
    append(stores, *(record(n, n) for n in range(5)))
    stores.resolve()
    assert retention(stores, now_day=100).run().pruned == 4


def test_the_newest_event_is_never_pruned_and_the_next_takes_the_next_position(
    stores: Stores,
) -> None:
    append(stores, *(record(n, n) for n in range(3)))
    stores.resolve()
    delivered_through(stores, 3)
    assert retention(stores, now_day=100).run().pruned == 2
    append(stores, record(3, 101))
    assert [event.seq for event in stores.events.read_after(0, 100)] == [3, 4]


def test_a_profile_reads_the_same_after_its_events_are_pruned(stores: Stores) -> None:
    a_month_of_events(stores)
    stores.resolve()
    delivered_through(stores, 30)
    user = Identifier("user_id", "user-7")
    before = stores.profiles.lookup(user)
    assert before is not None
    journey = stores.profiles.events(before.id)
    searched = stores.profiles.search("user-7")
    assert retention(stores, now_day=40).run().pruned == 29
    assert stores.profiles.lookup(user) == before
    assert stores.profiles.get(before.id) == before
    assert stores.profiles.events(before.id) == journey
    assert stores.profiles.search("user-7") == searched
    assert (before.first_seen, before.last_seen) == (day(2), day(29))
    assert before.event_count == 10
    assert before.traits == {"plan": "pro"}


def test_a_source_keeps_its_own_retention_before_the_servers(stores: Stores) -> None:
    append(stores, *(record(n, n, source=source) for n in range(10) for source in ("web", "app")))
    append(stores, record(99, 10, source="web"))
    stores.resolve()
    delivered_through(stores, 21)
    stores.events.set_source_retention("app", 2)
    assert stores.events.source_retention() == {"app": 2}
    assert retention(stores, now_day=10, days=5).run().pruned == 5 + 8
    assert len(days_stored(stores, "web")) == 6
    assert days_stored(stores, "app") == [day(8)[:10], day(9)[:10]]


def test_a_source_with_its_own_retention_is_pruned_without_a_server_retention(
    stores: Stores,
) -> None:
    append(stores, *(record(n, n, source=source) for n in range(5) for source in ("app", "web")))
    stores.resolve()
    delivered_through(stores, 10)
    stores.events.set_source_retention("app", 1)
    assert retention(stores, now_day=10, days=None).run().pruned == 5
    assert len(days_stored(stores, "web")) == 5
    stores.events.set_source_retention("app", None)
    assert stores.events.source_retention() == {}


def test_nothing_is_pruned_without_any_retention(stores: Stores) -> None:
    a_month_of_events(stores)
    stores.resolve()
    assert retention(stores, now_day=1000, days=None).run().pruned == 0


def test_a_retention_for_an_unknown_source_or_of_no_days_is_refused(stores: Stores) -> None:
    with pytest.raises(ValidationError, match="no source is called 'nope'"):
        stores.events.set_source_retention("nope", 3)
    with pytest.raises(ValidationError, match="days"):
        stores.events.set_source_retention("web", 0)


def test_a_failed_run_is_logged_and_counted_and_the_next_run_works(
    stores: Stores, caplog: pytest.LogCaptureFixture, request: pytest.FixtureRequest
) -> None:
    request_cleanup = request.addfinalizer
    a_month_of_events(stores)
    stores.resolve()
    metrics = Metrics()
    broken = RetentionPruner(
        Retention(
            stores.events,
            stores.profiles,
            stores.deliveries,
            days=1,
            clock=FakeClock(DAY_ZERO + timedelta(days=3650)),
        ),
        metrics,
    )
    stores.deliveries.add(HOOK, 0, now=0.0)
    stores.deliveries.close()  # the delivery state cannot be read: the run fails
    assert broken.run_once() is None
    assert "pruning old events failed" in caplog.text
    stores.deliveries = _reopened(stores)
    request_cleanup(stores.deliveries.close)
    working = RetentionPruner(
        Retention(
            stores.events,
            stores.profiles,
            stores.deliveries,
            days=1,
            clock=FakeClock(DAY_ZERO + timedelta(days=3650)),
        ),
        metrics,
    )
    delivered_through(stores, 30)
    done = working.run_once()
    assert done is not None
    assert done.pruned == 29
    text = metrics.render()
    assert 'audience_retention_runs_total{outcome="failed"} 1' in text
    assert 'audience_retention_runs_total{outcome="ok"} 1' in text
    assert "audience_events_pruned_total 29" in text


def _reopened(stores: Stores) -> DeliveryStore:
    if isinstance(stores.events, PostgresEventStore):
        return PostgresDeliveryStore(stores.events.url)
    return SqliteDeliveryStore.in_data_dir(Path(stores.location[1]))


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_a_rebuild_after_pruning_is_refused_unless_asked_to_use_what_remains(
    stores: Stores,
) -> None:
    a_month_of_events(stores)
    stores.resolve()
    delivered_through(stores, 30)
    retention(stores, now_day=40).run()
    refused = CliRunner().invoke(main, ["resolve", "--rebuild", *stores.location])
    assert refused.exit_code == 1
    assert "retention has pruned 29 event(s)" in refused.output
    assert "--from-remaining" in refused.output
    rebuilt = CliRunner().invoke(
        main, ["resolve", "--rebuild", "--from-remaining", *stores.location]
    )
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "warning: rebuilding from the events that remain" in rebuilt.output
    assert "profiles reflect the log up to #30" in rebuilt.output


def test_sources_set_retention_is_listed_and_unset(stores: Stores) -> None:
    assert run("sources", "set-retention", "app", "14", *stores.location) == (
        "app: events kept 14 day(s)\n"
    )
    lines = {
        line.split("\t")[0]: line for line in run("sources", "list", *stores.location).splitlines()
    }
    assert lines["app"].endswith("\tretention 14d")
    assert "retention" not in lines["web"]
    run("sources", "set-retention", "app", "--unset", *stores.location)
    assert "retention" not in run("sources", "list", *stores.location)


def test_sources_set_retention_names_what_is_wrong(stores: Stores) -> None:
    unknown = CliRunner().invoke(main, ["sources", "set-retention", "nope", "3", *stores.location])
    assert unknown.exit_code == 1
    assert "no source is called 'nope'" in unknown.output
    zero = CliRunner().invoke(main, ["sources", "set-retention", "app", "0", *stores.location])
    assert zero.exit_code == 2
    assert "DAYS" in zero.output
    neither = CliRunner().invoke(main, ["sources", "set-retention", "app", *stores.location])
    assert neither.exit_code == 2
    assert "--unset" in neither.output


def test_the_space_of_pruned_events_goes_back_to_the_file_system(tmp_path: Path) -> None:
    with SqliteEventStore.open(tmp_path / "events.sqlite3") as events:
        _fill_and_prune(events, tmp_path)


def test_an_older_file_without_incremental_vacuum_is_vacuumed_once(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE older (x)")  # a file made before incremental vacuum
    connection.close()
    with SqliteEventStore.open(path) as events:
        assert _auto_vacuum(path) == 0
        _fill_and_prune(events, tmp_path)
    assert _auto_vacuum(path) == 2


def _auto_vacuum(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        mode = int(connection.execute("PRAGMA auto_vacuum").fetchone()[0])
    connection.close()
    return mode


def _fill_and_prune(events: SqliteEventStore, folder: Path) -> None:
    profiles = SqliteProfileStore(folder / "profiles.sqlite3")
    try:
        padding = "x" * 4000
        for start in range(0, 4000, 500):
            events.append(
                [record(n, n / 1000, padding=padding) for n in range(start, start + 500)]
            ).result()
        profiles.apply(events.read_after(0, 10_000))
        with sqlite3.connect(events.path) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.close()
        size = events.path.stat().st_size
        done = Retention(
            events, profiles, None, days=1, clock=FakeClock(DAY_ZERO + timedelta(days=10))
        ).run()
        assert done.pruned == 3999
        assert done.reclaimed is not None
        with sqlite3.connect(events.path) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            free = int(connection.execute("PRAGMA freelist_count").fetchone()[0])
        connection.close()
        assert free == 0
        assert events.path.stat().st_size < size / 4
    finally:
        profiles.close()


def test_postgres_vacuums_the_events_table_after_pruning() -> None:
    with ExitStack() as stack:
        url = stack.enter_context(fresh_schema())
        events = stack.enter_context(PostgresEventStore.open(url))
        profiles = PostgresProfileStore(url)
        stack.callback(profiles.close)
        events.create_source("web")
        events.append([record(n, n) for n in range(3)]).result()
        profiles.apply(events.read_after(0, 10))
        done = Retention(
            events, profiles, None, days=1, clock=FakeClock(DAY_ZERO + timedelta(days=10))
        ).run()
    assert done.pruned == 2
    assert done.reclaimed == "VACUUM events"


def test_serve_with_a_retention_prunes_old_events_and_counts_them_in_metrics(
    tmp_path: Path,
) -> None:
    data = tmp_path / "serve-data"
    with SqliteEventStore.open(data / "events.sqlite3") as events:
        events.create_source("default")
        events.append([record(n, n, source="default") for n in range(5)]).result()  # in 2026-01
        profiles = SqliteProfileStore.in_directory(data)
        profiles.apply(events.read_after(0, 10))
        profiles.close()
    settings = load_settings(env={}, overrides={"data_dir": data, "retention_days": 30})
    app, _ = build_server_app(settings)
    with LiveServer(app) as server, httpx.Client(base_url=server.url) as client:
        wait_for(
            lambda: "audience_events_pruned_total 4" in client.get("/metrics").text,
            60,
            "the pruning at start",
        )
        assert 'audience_retention_runs_total{outcome="ok"} 1' in client.get("/metrics").text
    with SqliteEventStore.open(data / "events.sqlite3") as events:
        assert [event.seq for event in events.read_after(0, 10)] == [5]
        assert events.events_pruned() == 4


def test_a_run_asked_to_stop_ends_before_its_next_transaction(stores: Stores) -> None:
    append(stores, *(record(n, n) for n in range(5)))
    stores.resolve()
    asked: list[int] = []

    def stopping() -> bool:
        asked.append(1)
        return True

    done = retention(stores, now_day=100).run(stopping)
    assert (done.pruned, done.reclaimed) == (0, None)
    assert asked
    assert len(stores.events.read_after(0, 10)) == 5
