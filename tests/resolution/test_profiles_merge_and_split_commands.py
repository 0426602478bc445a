"""``audience profiles merge`` and ``audience profiles split``."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from audience.cli import main
from audience.storage.sqlite_events import SqliteEventStore


def kept_apart(tmp_path: Path) -> Path:
    """A data folder where alice and bob both identified on one tablet (bob's refused)."""
    data = tmp_path / "data"
    with SqliteEventStore.open(data / "events.sqlite3") as store:
        store.create_source("import")
    lines = [
        {"type": "identify", "anonymousId": "tablet", "userId": "alice",
         "timestamp": "2026-11-29T10:00:00Z"},
        {"type": "identify", "anonymousId": "tablet", "userId": "bob",
         "timestamp": "2026-11-29T10:01:00Z"},
    ]  # fmt: skip
    flow = tmp_path / "flow.jsonl"
    flow.write_text("\n".join(json.dumps(line) for line in lines))
    result = CliRunner().invoke(main, ["replay", str(flow), "--data", str(data)])
    assert result.exit_code == 0, result.output
    return data


def profile_id(data: Path, user_id: str) -> str:
    shown = CliRunner().invoke(
        main, ["profiles", "show", "--user-id", user_id, "--data", str(data)]
    )
    assert shown.exit_code == 0, shown.output
    return shown.output.splitlines()[0].split()[1]


def test_profiles_merge_joins_two_people_and_show_prints_who_and_why(tmp_path: Path) -> None:
    data = kept_apart(tmp_path)
    alice, bob = profile_id(data, "alice"), profile_id(data, "bob")
    runner = CliRunner()
    merged = runner.invoke(
        main,
        ["profiles", "merge", alice, bob, "--reason", "one person", "--actor", "jane",
         "--data", str(data)],
    )  # fmt: skip
    assert merged.exit_code == 0, merged.output
    assert "user_id       bob" in merged.output
    shown = runner.invoke(main, ["profiles", "show", "--user-id", "bob", "--data", str(data)])
    assert "user_id       alice" in shown.output
    assert "by jane: one person" in shown.output


def test_profiles_split_takes_the_identifier_off_and_rebuilds(tmp_path: Path) -> None:
    data = kept_apart(tmp_path)
    alice = profile_id(data, "alice")
    runner = CliRunner()
    split = runner.invoke(
        main,
        ["profiles", "split", alice, "--anonymous-id", "tablet", "--reason", "shared tablet",
         "--data", str(data)],
    )  # fmt: skip
    assert split.exit_code == 0, split.output
    assert "applied 2 event(s)" in split.output
    shown = runner.invoke(main, ["profiles", "show", "--user-id", "alice", "--data", str(data)])
    assert "tablet" not in shown.output.split("timeline")[0]
    tablet = runner.invoke(
        main, ["profiles", "show", "--anonymous-id", "tablet", "--data", str(data)]
    )
    assert "split anonymous_id 'tablet' off its profile" in tablet.output
    assert "shared tablet" in tablet.output


def test_merge_and_split_refusals_name_the_problem(tmp_path: Path) -> None:
    data = kept_apart(tmp_path)
    alice = profile_id(data, "alice")
    runner = CliRunner()
    same = runner.invoke(
        main, ["profiles", "merge", alice, alice, "--reason", "x", "--data", str(data)]
    )
    assert same.exit_code == 1
    assert "profiles: both ids name the same profile" in same.output
    unknown = runner.invoke(
        main, ["profiles", "merge", alice, "prof_nobody", "--reason", "x", "--data", str(data)]
    )
    assert "profiles[1]: no profile 'prof_nobody'" in unknown.output
    no_reason = runner.invoke(main, ["profiles", "merge", alice, alice, "--data", str(data)])
    assert no_reason.exit_code == 2
    two = runner.invoke(
        main,
        ["profiles", "split", alice, "--user-id", "alice", "--email", "a@b.c", "--reason", "x",
         "--data", str(data)],
    )  # fmt: skip
    assert two.exit_code == 2
    elsewhere = runner.invoke(
        main,
        ["profiles", "split", alice, "--user-id", "bob", "--reason", "x", "--data", str(data)],
    )
    assert elsewhere.exit_code == 1
    assert "identifier: the profile holds no user_id 'bob'" in elsewhere.output
