from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from audience.cli import main
from audience.storage.sqlite_events import SqliteEventStore


def write_flow(path: Path) -> Path:
    lines = [
        {"type": "page", "anonymousId": "a-1", "name": "Home", "timestamp": "2026-11-29T10:00:00Z"},
        {
            "batch": [
                {
                    "type": "track",
                    "anonymousId": "a-1",
                    "event": "Added to Cart",
                    "timestamp": "2026-11-29T10:01:00Z",
                },
                {
                    "type": "identify",
                    "anonymousId": "a-1",
                    "userId": "user_123",
                    "traits": {"name": "Jane"},
                    "timestamp": "2026-11-29T10:02:00Z",
                },
            ]
        },
        {
            "type": "track",
            "userId": "user_123",
            "anonymousId": "a-1",
            "event": "Order Completed",
            "timestamp": "2026-11-29T10:03:00Z",
        },
        {"type": "track", "event": "no identity at all"},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    return path


def prepared_data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    with SqliteEventStore.open(data / "events.sqlite3") as store:
        store.create_source("import")
    return data


@pytest.mark.parametrize("command", [["replay"], ["events", "replay"]])
def test_replay_imports_through_the_ingest_path_and_twice_stores_nothing_new(
    tmp_path: Path, command: list[str]
) -> None:
    data = prepared_data(tmp_path)
    flow = write_flow(tmp_path / "flow.jsonl")
    runner = CliRunner()
    first = runner.invoke(main, [*command, str(flow), "--data", str(data)])
    assert first.exit_code == 0, first.output
    assert "stored 4, already stored 0, refused 1" in first.output
    second = runner.invoke(main, [*command, str(flow), "--data", str(data)])
    assert second.exit_code == 0, second.output
    assert "stored 0, already stored 4, refused 1" in second.output
    with SqliteEventStore.open(data / "events.sqlite3") as store:
        assert store.last_seq() == 4


def test_profiles_show_prints_the_profile_and_its_timeline(tmp_path: Path) -> None:
    data = prepared_data(tmp_path)
    runner = CliRunner()
    runner.invoke(main, ["replay", str(write_flow(tmp_path / "flow.jsonl")), "--data", str(data)])
    by_user = runner.invoke(
        main, ["profiles", "show", "--user-id", "user_123", "--data", str(data)]
    )
    assert by_user.exit_code == 0, by_user.output
    assert "anonymous_id  a-1" in by_user.output
    assert '"name":"Jane"' in by_user.output
    assert "[anonymous a-1]" in by_user.output
    assert "[identify user_123]" in by_user.output
    assert "track: Order Completed" in by_user.output
    profile_id = by_user.output.splitlines()[0].split()[1]
    by_anon = runner.invoke(
        main, ["profiles", "show", "--anonymous-id", "a-1", "--data", str(data)]
    )
    by_id = runner.invoke(main, ["profiles", "show", profile_id, "--data", str(data)])
    assert by_anon.output == by_user.output == by_id.output


def test_profiles_show_of_an_unknown_person_fails_clearly(tmp_path: Path) -> None:
    data = prepared_data(tmp_path)
    runner = CliRunner()
    runner.invoke(main, ["replay", str(write_flow(tmp_path / "flow.jsonl")), "--data", str(data)])
    result = runner.invoke(main, ["profiles", "show", "--user-id", "nobody", "--data", str(data)])
    assert result.exit_code == 1
    assert "no profile 'nobody'" in result.output


def test_resolve_rebuild_recomputes_the_same_profiles(tmp_path: Path) -> None:
    data = prepared_data(tmp_path)
    runner = CliRunner()
    runner.invoke(main, ["replay", str(write_flow(tmp_path / "flow.jsonl")), "--data", str(data)])
    before = runner.invoke(main, ["profiles", "search", "--data", str(data)]).output
    rebuilt = runner.invoke(main, ["resolve", "--rebuild", "--data", str(data)])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "applied 4 event(s)" in rebuilt.output
    assert runner.invoke(main, ["profiles", "search", "--data", str(data)]).output == before
    assert "user_id user_123" in before


def test_rebuild_with_link_email_joins_profiles_by_email_and_is_remembered(tmp_path: Path) -> None:
    data = prepared_data(tmp_path)
    lines = [
        {"type": "identify", "anonymousId": "laptop", "traits": {"email": "Jo@Example.com"}},
        {"type": "identify", "userId": "jo", "traits": {"email": "jo@example.com"}},
    ]
    flow = tmp_path / "emails.jsonl"
    flow.write_text("\n".join(json.dumps(line) for line in lines))
    runner = CliRunner()
    runner.invoke(main, ["replay", str(flow), "--data", str(data)])
    apart = runner.invoke(main, ["profiles", "show", "--user-id", "jo", "--data", str(data)])
    assert "laptop" not in apart.output
    refused = runner.invoke(main, ["resolve", "--link-email", "--data", str(data)])
    assert refused.exit_code == 2
    rebuilt = runner.invoke(main, ["resolve", "--rebuild", "--link-email", "--data", str(data)])
    assert rebuilt.exit_code == 0, rebuilt.output
    joined = runner.invoke(main, ["profiles", "show", "--user-id", "jo", "--data", str(data)])
    assert "anonymous_id  laptop" in joined.output
    assert "email         jo@example.com" in joined.output
    again = runner.invoke(main, ["resolve", "--rebuild", "--data", str(data)])
    assert again.exit_code == 0
    still = runner.invoke(main, ["profiles", "show", "--user-id", "jo", "--data", str(data)])
    assert "anonymous_id  laptop" in still.output
