from __future__ import annotations

import threading
from pathlib import Path

import httpx
import orjson
from click.testing import CliRunner
from collector_support import ADMIN_TOKEN

from audience.cli import main
from audience.collector.app import prepare_data
from audience.config import Settings
from audience.storage.base import EventRecord
from audience.storage.sqlite_events import SqliteEventStore
from support import AudienceServer

ENVIRONMENT_TOKEN = "an-admin-token-from-the-environment-of-40"


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def record(message_id: str, source: str) -> EventRecord:
    message = {"type": "track", "event": f"E {message_id}", "messageId": message_id}
    return EventRecord(
        source, message_id, "track", "u1", None, message["event"], "t", "t", None,
        orjson.dumps(message),
    )  # fmt: skip


def test_sources_create_prints_the_write_key_and_list_shows_it(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    key = run("sources", "create", "web", "--write-key", "KEY-1", "--data", data).strip()
    assert key == "KEY-1"
    random_key = run("sources", "create", "app", "--data", data).strip()
    assert len(random_key) >= 32
    listing = run("sources", "list", "--data", data)
    assert "web\tKEY-1" in listing
    assert f"app\t{random_key}" in listing


def test_creating_a_source_twice_fails_with_a_message(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    run("sources", "create", "web", "--data", data)
    result = CliRunner().invoke(main, ["sources", "create", "web", "--data", data])
    assert result.exit_code == 1
    assert "name: is already used" in result.output


def test_events_tail_prints_the_newest_events_oldest_first(tmp_path: Path) -> None:
    with SqliteEventStore.open(tmp_path / "events.sqlite3") as store:
        store.create_source("web", "K1")
        store.create_source("app", "K2")
        store.append([record(f"m{i}", "web") for i in range(5)]).result()
        store.append([record("other", "app")]).result()
    lines = run(
        "events", "tail", "-n", "3", "--source", "web", "--data", str(tmp_path)
    ).splitlines()
    assert [orjson.loads(line)["messageId"] for line in lines] == ["m2", "m3", "m4"]


def test_events_tail_follow_prints_events_as_they_are_committed(tmp_path: Path) -> None:
    with SqliteEventStore.open(tmp_path / "events.sqlite3") as store:
        store.create_source("web", "K1")
        store.append([record("before", "web")]).result()

        def later() -> None:
            store.append([record("after", "web")]).result()

        timer = threading.Timer(0.3, later)
        timer.start()
        output = run("events", "tail", "-f", "--max-events", "2", "--data", str(tmp_path))
        timer.join()
    assert [orjson.loads(line)["messageId"] for line in output.splitlines()] == ["before", "after"]


def test_serve_prints_the_write_key_and_token_and_accepts_sources_created_later(
    tmp_path: Path,
) -> None:
    server = AudienceServer(tmp_path / "data", tmp_path / "serve.log", admin_token=ADMIN_TOKEN)
    server.start()
    try:
        output = server.log()
        key = next(line.split()[2] for line in output.splitlines() if line.startswith("write key:"))
        assert "admin token: from AUDIENCE_ADMIN_TOKEN" in output
        assert ADMIN_TOKEN not in output
        run("sources", "create", "late", "--write-key", "LATE-KEY", "--data", str(server.data_dir))
        for write_key in (key, "LATE-KEY"):
            body = {"writeKey": write_key, "userId": "u1", "event": "Signed Up"}
            assert httpx.post(f"{server.url}/v1/t", json=body).status_code == 200
        with server.admin() as admin:
            assert len(admin.events()) == 2
    finally:
        server.stop()
    assert "Application shutdown complete" in server.log()


def test_the_first_start_creates_a_default_source_and_a_token_kept_across_restarts(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.sqlite3"
    with SqliteEventStore.open(path) as store:
        first = prepare_data(store, Settings())
    with SqliteEventStore.open(path) as store:
        again = prepare_data(store, Settings())
        assert [s.name for s in store.list_sources()] == ["default"]
    assert first.source == again.source
    assert first.admin_token == again.admin_token
    assert len(first.admin_token) >= 32
    assert not first.token_from_environment
    assert (first.token_generated, again.token_generated) == (True, False)


def test_an_admin_token_from_the_environment_wins_and_sources_made_first_are_kept(
    tmp_path: Path,
) -> None:
    with SqliteEventStore.open(tmp_path / "events.sqlite3") as store:
        store.create_source("web", "KEEP-ME")
        first = prepare_data(store, Settings(admin_token=ENVIRONMENT_TOKEN))
        assert [s.name for s in store.list_sources()] == ["web"]
    assert first.source.write_key == "KEEP-ME"
    assert first.admin_token == ENVIRONMENT_TOKEN
    assert not first.token_generated
