"""``audience privacy``: delete, suppress and unsuppress from the command line, on SQLite and
PostgreSQL, then list the regulations and follow one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from audience.cli import main
from audience.config import Settings
from audience.identity.identifiers import Identifier
from audience.resolution.backend import open_profile_store
from audience.storage.backend import open_event_store
from postgres_db import fresh_schema
from resolution.events import record


@pytest.fixture(params=["sqlite", "postgres"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[str]]:
    """The store options of a data folder holding Ada's and Bob's events and profiles."""
    options = ["--data", str(tmp_path)]
    if request.param == "postgres":
        with fresh_schema() as url:
            yield prepared([*options, "--database-url", url], tmp_path, url)
        return
    yield prepared(options, tmp_path, None)


def prepared(options: list[str], data_dir: Path, url: str | None) -> list[str]:
    settings = Settings(data_dir=data_dir, database_url=url)
    with open_event_store(settings) as events:
        events.create_source("web", "WK_PRIVACY_COMMANDS")
        events.append(
            [
                record(1, type="page", anonymousId="ada-anon"),
                record(2, type="identify", anonymousId="ada-anon", userId="ada"),
                record(3, type="identify", anonymousId="bob-anon", userId="bob"),
            ]
        ).result()
        profiles = open_profile_store(settings)
        try:
            profiles.apply(events.read_after(0, 100))
        finally:
            profiles.close()
    return options


def test_delete_removes_the_person_named_and_status_shows_each_step(where: list[str]) -> None:
    runner = CliRunner()
    deleted = runner.invoke(main, ["privacy", "delete", "--anonymous-id", "ada-anon", *where])
    assert deleted.exit_code == 0, deleted.output
    regulation_id, kind, _, status = deleted.output.splitlines()[0].split("\t")
    assert (kind, status) == ("DELETE_ONLY", "FINISHED")
    assert "ada" not in deleted.output.replace("ada-anon", "")
    shown = runner.invoke(main, ["privacy", "status", regulation_id, *where])
    assert shown.exit_code == 0, shown.output
    steps = {line.split()[0]: line.split()[1:] for line in shown.output.splitlines()[1:]}
    assert steps["resolve"] == ["done", "2"]
    assert steps["events"] == ["done", "2"]
    assert steps["unsuppress"][0] == "done"
    listed = runner.invoke(main, ["privacy", "list", *where])
    assert listed.output.split("\t")[0] == regulation_id
    assert "\tcli" in listed.output


def test_suppress_and_unsuppress_change_the_suppression_list(
    where: list[str], tmp_path: Path
) -> None:
    runner = CliRunner()
    ids = tmp_path / "ids.txt"
    ids.write_text("# people who asked\nuser-id ada\n\nemail Bob@Example.com\n")
    done = runner.invoke(main, ["privacy", "suppress", "--file", str(ids), *where])
    assert done.exit_code == 0, done.output
    assert done.output.count("FINISHED") == 2
    url = where[3] if len(where) > 2 else None
    with open_event_store(Settings(data_dir=tmp_path, database_url=url)) as events:
        assert len(events.suppressed_hashes()) == 3, "ada, ada-anon and the email"
        lifted = runner.invoke(main, ["privacy", "unsuppress", "--user-id", "ada", *where])
        assert lifted.exit_code == 0, lifted.output
        assert len(events.suppressed_hashes()) == 1
    profiles = open_profile_store(Settings(data_dir=tmp_path, database_url=url))
    try:
        assert profiles.lookup(Identifier("user_id", "ada")) is not None, (
            "suppressing deletes nothing"
        )
    finally:
        profiles.close()


def test_bad_subjects_are_usage_errors_naming_the_option(where: list[str], tmp_path: Path) -> None:
    runner = CliRunner()
    nobody = runner.invoke(main, ["privacy", "suppress", *where])
    assert nobody.exit_code == 2
    assert "name someone" in nobody.output
    junk = runner.invoke(main, ["privacy", "suppress", "--email", "not-an-email", *where])
    assert junk.exit_code == 2
    assert "--email: is not an email address" in junk.output
    ids = tmp_path / "bad.txt"
    ids.write_text("phone 123\n")
    bad_file = runner.invoke(main, ["privacy", "delete", "--file", str(ids), *where])
    assert bad_file.exit_code == 2
    assert "bad.txt:1: expected" in bad_file.output
    unknown = runner.invoke(main, ["privacy", "status", "reg_nope", *where])
    assert unknown.exit_code == 1
    assert "no regulation is named 'reg_nope'" in unknown.output


def test_replay_drops_a_suppressed_persons_events_and_takes_semantic_events_as_requests(
    where: list[str], tmp_path: Path
) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["privacy", "suppress", "--user-id", "ada", *where]).exit_code == 0
    flow = tmp_path / "flow.jsonl"
    flow.write_text(
        "\n".join(
            [
                '{"type": "track", "event": "Back", "userId": "ada", "messageId": "r-1"}',
                '{"type": "track", "event": "Back", "userId": "bob", "messageId": "r-2"}',
                '{"type": "track", "event": "Suppress Person", "userId": "carol",'
                ' "messageId": "r-3"}',
            ]
        )
    )
    replayed = runner.invoke(main, ["replay", str(flow), *where])
    assert replayed.exit_code == 0, replayed.output
    assert "stored 1," in replayed.output
    url = where[3] if len(where) > 2 else None
    with open_event_store(Settings(data_dir=tmp_path, database_url=url)) as events:
        ids = {str(e.message["messageId"]) for e in events.read_after(0, 100)}
        assert ids == {"m-1", "m-2", "m-3", "r-2"}
        requested = events.list_regulations(10)
        assert [(r.type, r.requested_by) for r in requested[:1]] == [("SUPPRESS", "semantic_event")]
