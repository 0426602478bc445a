"""Every data command works on PostgreSQL with --database-url, and serve runs several workers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from audience.cli import main
from postgres_db import fresh_schema
from support import AudienceServer


@pytest.fixture
def database() -> Iterator[str]:
    with fresh_schema() as url:
        yield url


def run(*arguments: str) -> str:
    result = CliRunner().invoke(main, list(arguments))
    assert result.exit_code == 0, result.output
    return result.output


def test_sources_replay_profiles_events_and_destinations_take_a_database_url(
    database: str, tmp_path: Path
) -> None:
    empty = str(tmp_path / "unused")  # nothing may be written to the data folder
    key = run("sources", "create", "import", "--database-url", database, "--data", empty).strip()
    assert key in run("sources", "list", "--database-url", database)
    flow = tmp_path / "flow.jsonl"
    lines = [
        {"type": "page", "anonymousId": "a-1", "name": "Home", "messageId": "p1"},
        {"type": "identify", "anonymousId": "a-1", "userId": "user_123", "messageId": "i1"},
    ]
    flow.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    assert "stored 2" in run("replay", str(flow), "--database-url", database, "--data", empty)
    assert "stored 0, already stored 2" in run("replay", str(flow), "--database-url", database)
    assert "user_id user_123\t2 events" in run("profiles", "search", "--database-url", database)
    assert "applied 2 event(s)" in run("resolve", "--rebuild", "--database-url", database)
    tail = run("events", "tail", "--database-url", database, "-n", "5")
    assert [json.loads(line)["messageId"] for line in tail.splitlines()] == ["p1", "i1"]
    run(
        "destinations",
        "add",
        "hook",
        "--webhook",
        "http://127.0.0.1:9/h",
        "--database-url",
        database,
    )
    assert "hook" in run("destinations", "list", "--database-url", database)
    assert not Path(empty).exists()


def test_the_environment_variable_selects_postgresql_too(database: str) -> None:
    result = CliRunner().invoke(
        main, ["sources", "create", "web"], env={"AUDIENCE_DATABASE_URL": database}
    )
    assert result.exit_code == 0, result.output
    assert "web" in run("sources", "list", "--database-url", database)


def test_several_workers_need_postgresql() -> None:
    result = CliRunner().invoke(main, ["serve", "--workers", "2"])
    assert result.exit_code != 0
    assert "--database-url" in result.output


def test_serve_with_two_workers_stores_each_event_once(database: str, tmp_path: Path) -> None:
    run("sources", "create", "web", "--write-key", "two-workers", "--database-url", database)
    workers = AudienceServer(
        tmp_path / "data",
        tmp_path / "serve.log",
        extra_args=("--workers", "2", "--database-url", database),
        env={"AUDIENCE_LOG_LEVEL": "warning"},
    )
    with workers, httpx.Client(auth=("two-workers", "")) as client:
        for attempt in range(2):
            for n in range(20):
                message = {"userId": "u1", "event": "E", "messageId": f"m{n}"}
                reply = client.post(f"{workers.url}/v1/track", json=message)
                assert reply.status_code == 200, (attempt, reply.text)
        assert httpx.get(f"{workers.url}/healthz", timeout=5).json()["lastSeq"] >= 20
    tail = run("events", "tail", "--database-url", database, "-n", "100")
    assert sorted(json.loads(line)["messageId"] for line in tail.splitlines()) == sorted(
        f"m{n}" for n in range(20)
    )
