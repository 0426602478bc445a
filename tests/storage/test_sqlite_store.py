from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import orjson
import pytest

from audience.errors import StorageError, ValidationError
from audience.eventlog import EventFeed
from audience.storage.backend import EventStore
from audience.storage.base import EventFilter, EventRecord
from audience.storage.postgres_events import PostgresEventStore
from audience.storage.sqlite_events import SqliteEventStore
from postgres_db import fresh_schema

Opener = Callable[[], EventStore]


def record(message_id: str, source: str = "web", **message: object) -> EventRecord:
    body = {"type": "track", "event": "E", "messageId": message_id, **message}
    return EventRecord(
        source=source,
        message_id=message_id,
        type=str(body["type"]),
        user_id=None,
        anonymous_id="a1",
        event="E",
        received_at="2026-11-29T12:00:00.000Z",
        timestamp="2026-11-29T12:00:00.000Z",
        request_ip="127.0.0.1",
        message=orjson.dumps(body),
    )


@pytest.fixture(params=["sqlite", "postgres"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens the same event store each call: a SQLite file, or a PostgreSQL schema."""
    with ExitStack() as stack:
        if request.param == "postgres":
            url = stack.enter_context(fresh_schema())
            yield lambda: PostgresEventStore.open(url)
        else:
            yield lambda: SqliteEventStore.open(tmp_path / "data" / "events.sqlite3")


@pytest.fixture
def store(open_store: Opener) -> Iterator[EventStore]:
    with open_store() as opened:
        yield opened


def test_appended_events_are_read_back_in_commit_order(store: EventStore) -> None:
    store.append([record("m1"), record("m2")]).result()
    store.append([record("m3")]).result()
    feed: EventFeed = store
    events = feed.read_after(0, 10)
    assert [e.seq for e in events] == [1, 2, 3]
    assert [e.message["messageId"] for e in events] == ["m1", "m2", "m3"]
    assert events[0].source == "web"
    assert feed.read_after(2, 10)[0].message["messageId"] == "m3"
    assert feed.read_after(0, 2)[-1].seq == 2
    assert feed.last_seq() == 3


def test_an_empty_log_has_last_seq_zero(store: EventStore) -> None:
    assert store.last_seq() == 0
    assert store.read_after(0, 10) == []


def test_get_many_returns_known_positions_in_order(store: EventStore) -> None:
    store.append([record(f"m{i}") for i in range(5)]).result()
    assert [e.seq for e in store.get_many([4, 1, 99, 4])] == [1, 4]


def test_a_message_id_is_stored_once_per_source(store: EventStore) -> None:
    first = store.append([record("m1"), record("m1")]).result()
    again = store.append([record("m1")]).result()
    elsewhere = store.append([record("m1", source="app")]).result()
    assert (first.stored, first.duplicates) == (1, 1)
    assert (again.stored, again.duplicates) == (0, 1)
    assert (elsewhere.stored, elsewhere.duplicates) == (1, 0)
    assert store.count() == 2


def test_concurrent_appends_all_commit_and_each_caller_learns_its_own_result(
    store: EventStore,
) -> None:
    results = []
    lock = threading.Lock()

    def send(worker: int) -> None:
        for batch in range(20):
            result = store.append([record(f"w{worker}-{batch}-{i}") for i in range(10)]).result()
            with lock:
                results.append(result)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 160
    assert all(r.stored == 10 and r.duplicates == 0 for r in results)
    assert store.count() == 1600
    seqs = [e.seq for e in store.read_after(0, 2000)]
    assert seqs == sorted(seqs) == list(range(1, 1601))


def test_events_survive_closing_and_reopening(open_store: Opener) -> None:
    with open_store() as first:
        first.create_source("web", "KEY1")
        first.append([record("m1")]).result()
    with open_store() as second:
        assert second.read_after(0, 10)[0].message["messageId"] == "m1"
        assert second.source_by_key("KEY1") is not None


def test_close_commits_appends_already_submitted(open_store: Opener) -> None:
    store = open_store()
    futures = [store.append([record(f"m{i}")]) for i in range(50)]
    store.close()
    assert all(f.result().stored == 1 for f in futures)
    with open_store() as reopened:
        assert reopened.count() == 50


def test_appending_to_a_closed_store_fails_with_a_storage_error(open_store: Opener) -> None:
    store = open_store()
    store.close()
    with pytest.raises(StorageError):
        store.append([record("m1")])
    with pytest.raises(StorageError):
        store.last_seq()


def test_commit_listeners_hear_the_newest_position(store: EventStore) -> None:
    heard: list[int] = []
    store.add_commit_listener(heard.append)
    store.append([record("m1"), record("m2")]).result()
    store.append([record("m1")]).result()
    assert heard == [2]


def test_recent_lists_newest_first_with_filters(store: EventStore) -> None:
    store.append([record("m1"), record("m2", source="app"), record("m3")]).result()
    newest = store.recent(EventFilter(), 10)
    assert [e.message["messageId"] for e in newest] == ["m3", "m2", "m1"]
    web = store.recent(EventFilter(source="web"), 1)
    assert [e.message["messageId"] for e in web] == ["m3"]


def test_sources_get_random_write_keys_unless_one_is_given(store: EventStore) -> None:
    web = store.create_source("web")
    app = store.create_source("app", "my-key_1")
    assert len(web.write_key) >= 32
    assert app.write_key == "my-key_1"
    assert [s.name for s in store.list_sources()] == ["web", "app"]
    assert store.source_by_key("my-key_1") == app
    assert store.source_by_name("web") == web
    assert store.source_by_key("nope") is None


@pytest.mark.parametrize(
    ("name", "key", "field"),
    [("web", None, "name"), ("other", "taken", "writeKey"), ("x", "has space", "writeKey")],
)
def test_a_source_name_or_write_key_cannot_be_reused_or_malformed(
    store: EventStore, name: str, key: str | None, field: str
) -> None:
    store.create_source("web", "taken")
    with pytest.raises(ValidationError) as raised:
        store.create_source(name, key)
    assert raised.value.field == field


def test_the_meta_value_kept_first_wins(store: EventStore) -> None:
    assert store.set_meta_once("admin_token", "first") == "first"
    assert store.set_meta_once("admin_token", "second") == "first"
    assert store.get_meta("admin_token") == "first"


def test_the_sqlite_database_runs_in_wal_mode(tmp_path: Path) -> None:
    with SqliteEventStore.open(tmp_path / "events.sqlite3") as store:
        store.append([record("m1")]).result()
        assert (tmp_path / "events.sqlite3-wal").exists()


def test_a_failed_commit_fails_its_callers_and_the_writer_keeps_going(
    store: EventStore,
) -> None:
    unstorable = record("bad")._replace(message={"not": "bytes"})  # type: ignore[arg-type]
    failed = store.append([unstorable])
    with pytest.raises(StorageError):
        failed.result(timeout=10)
    assert store.append([record("good")]).result(timeout=10).stored == 1
    assert [e.message["messageId"] for e in store.read_after(0, 10)] == ["good"]


def test_closing_the_store_checkpoints_the_log_into_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    with SqliteEventStore.open(path) as store:
        store.append([record(f"m{i}") for i in range(300)]).result()
    with sqlite3.connect(f"file:{path}?immutable=1", uri=True) as reader:
        assert reader.execute("SELECT count(*) FROM events").fetchone()[0] == 300
    reader.close()


def test_the_writer_health_counts_failed_commits_until_one_succeeds(store: EventStore) -> None:
    assert store.writer_health().failures_in_a_row == 0
    unstorable = record("bad")._replace(message={"not": "bytes"})  # type: ignore[arg-type]
    for _ in range(2):
        with pytest.raises(StorageError):
            store.append([unstorable]).result(timeout=10)
    failing = store.writer_health()
    assert failing.failures_in_a_row == 2
    assert failing.since_last_failure is not None
    assert failing.since_last_commit is None
    store.append([record("good")]).result(timeout=10)
    healthy = store.writer_health()
    assert healthy.failures_in_a_row == 0
    assert healthy.since_last_commit is not None
    assert healthy.running


def test_the_writer_health_shows_appends_waiting_behind_a_commit_listener_that_hangs(
    store: EventStore,
) -> None:
    """A listener that blocks holds up every later append: the health shows the wait grow."""
    release = threading.Event()
    store.add_commit_listener(lambda _seq: release.wait(30))
    store.append([record("first")]).result(timeout=10)  # answered, then the listener hangs
    waiting = store.append([record("second")])
    deadline = time.monotonic() + 10
    while store.writer_health().oldest_wait < 0.5 and time.monotonic() < deadline:
        time.sleep(0.05)
    stuck = store.writer_health()
    assert stuck.oldest_wait >= 0.5
    assert stuck.queued == 1
    assert not waiting.done()
    release.set()
    assert waiting.result(timeout=10).stored == 1
    deadline = time.monotonic() + 10
    while store.writer_health().oldest_wait > 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert store.writer_health().oldest_wait == 0
