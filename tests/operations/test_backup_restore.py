"""``audience backup`` of a data folder while a real server ingests, and ``audience restore``:
the restored folder holds exactly the events up to the backup's position, and its profiles,
once resolved, are those of the source at that position."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from audience.cli import main
from audience.eventlog import EventFeed, StoredEvent
from audience.identity.identifiers import Identifier
from audience.resolution.profile_store import ProfileStore
from audience.resolution.resolver import Resolver
from audience.resolution.sqlite_profiles import SqliteProfileStore
from audience.storage.backups import MANIFEST_NAME
from audience.storage.sqlite_events import SqliteEventStore
from support.audience_server import AudienceServer, audience_command
from support.store_contents import identifiers_of
from support.waiting import wait_for

WRITE_KEY = "wk_backup_source_key"
ADMIN_TOKEN = "b" * 40


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """``audience ARGS`` as a process of its own, its output kept."""
    return subprocess.run(
        [*audience_command(), *args], capture_output=True, text=True, timeout=120, check=False
    )


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


class Sender:
    """A real HTTP sender posting batches to the server until stopped; people identify, move
    between devices and track, so profiles merge while the backup is taken."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sent = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _batch(self, round_number: int) -> list[dict[str, Any]]:
        person = round_number % 40
        device = f"device-{round_number % 97}"
        return [
            {"type": "track", "anonymousId": device, "event": "Viewed", "properties": {"n": n}}
            for n in range(20)
        ] + [
            {"type": "identify", "anonymousId": device, "userId": f"user-{person}",
             "traits": {"email": f"p{person}@example.com", "round": round_number}},
        ]  # fmt: skip

    def _run(self) -> None:
        with httpx.Client(timeout=30) as http:
            round_number = 0
            while not self._stop.is_set():
                reply = http.post(
                    f"{self.url}/v1/batch",
                    json={"batch": self._batch(round_number)},
                    auth=(WRITE_KEY, ""),
                )
                if reply.status_code != 200:
                    self.failures.append(reply.text)
                self.sent += 21
                round_number += 1

    def __enter__(self) -> Sender:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)


class UpTo:
    """The source's event log cut at ``last``: what it held when the backup was taken."""

    def __init__(self, feed: EventFeed, last: int) -> None:
        self.feed = feed
        self.last = last

    def read_after(self, seq: int, limit: int) -> list[StoredEvent]:
        return [event for event in self.feed.read_after(seq, limit) if event.seq <= self.last]

    def get_many(self, seqs: Sequence[int]) -> list[StoredEvent]:
        return [event for event in self.feed.get_many(seqs) if event.seq <= self.last]

    def last_seq(self) -> int:
        return min(self.feed.last_seq(), self.last)


def profiles_of(store: ProfileStore, events: list[StoredEvent]) -> dict[str, Any]:
    """Every identifier's profile, with its contents, as JSON values."""
    plain = [{"message": event.message} for event in events]
    found: dict[str, Any] = {}
    for kind, value in identifiers_of(plain):
        profile = store.lookup(Identifier(kind, value))  # type: ignore[arg-type]
        found[f"{kind}:{value}"] = (
            None
            if profile is None
            else json.loads(json.dumps(dataclasses.asdict(profile), sort_keys=True, default=str))
        )
    return found


def all_events(path: Path) -> list[StoredEvent]:
    with SqliteEventStore.open(path) as store:
        found: list[StoredEvent] = []
        while batch := store.read_after(found[-1].seq if found else 0, 5000):
            found.extend(batch)
        return found


@pytest.fixture
def server(tmp_path: Path) -> Iterator[AudienceServer]:
    with AudienceServer(
        tmp_path / "source",
        tmp_path / "serve.log",
        admin_token=ADMIN_TOKEN,
        sources={"web": WRITE_KEY},
    ) as running:
        yield running


def test_a_backup_taken_under_load_restores_every_event_up_to_its_position_and_the_same_profiles(
    server: AudienceServer, tmp_path: Path
) -> None:
    backup = tmp_path / "backup"
    restored = tmp_path / "restored"
    with Sender(server.url) as sender:
        wait_for(lambda: sender.sent >= 2000, 60, "the sender storing events")
        taken = run("backup", str(backup), "--data", str(server.data_dir))
        assert taken.returncode == 0, taken.stderr
        sent_at_backup = sender.sent
        wait_for(lambda: sender.sent >= sent_at_backup + 1000, 60, "more events after it")
    assert sender.failures == []
    manifest = json.loads((backup / MANIFEST_NAME).read_text())
    position = manifest["last_event_seq"]
    assert position > 0
    by_store = {entry["store"]: entry for entry in manifest["files"]}
    assert by_store["events"]["last_event_seq"] == position
    assert by_store["profiles"]["last_event_seq"] <= position
    server.stop()

    put_back = run("restore", str(backup), "--data", str(restored))
    assert put_back.returncode == 0, put_back.stderr
    resolved = run("resolve", "--data", str(restored))
    assert resolved.returncode == 0, resolved.stderr

    source_events = all_events(server.data_dir / "events.sqlite3")
    assert source_events[-1].seq > position  # the server kept ingesting after the backup
    expected_events = [event for event in source_events if event.seq <= position]
    assert all_events(restored / "events.sqlite3") == expected_events

    reference = SqliteProfileStore.in_directory(tmp_path / "reference")
    with SqliteEventStore.open(server.data_dir / "events.sqlite3") as source:
        resolver = Resolver(UpTo(source, position), reference)
        while resolver.step():
            pass
    restored_profiles = SqliteProfileStore.in_directory(restored)
    try:
        assert restored_profiles.cursor() == position
        assert profiles_of(restored_profiles, expected_events) == profiles_of(
            reference, expected_events
        )
    finally:
        restored_profiles.close()
        reference.close()


def test_restore_refuses_a_data_folder_a_server_is_running_on(
    server: AudienceServer, tmp_path: Path
) -> None:
    backup = tmp_path / "backup"
    assert invoke("backup", str(backup), "--data", str(server.data_dir)).exit_code == 0
    refused = run("restore", str(backup), "--data", str(server.data_dir), "--force")
    assert refused.returncode == 1
    assert "audience serve is running on" in refused.stderr


def test_restore_replaces_a_folder_holding_stores_only_with_force(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert invoke("sources", "create", "web", "--data", str(data)).exit_code == 0
    backup = tmp_path / "backup"
    assert invoke("backup", str(backup), "--data", str(data)).exit_code == 0
    other = tmp_path / "other"
    assert invoke("sources", "create", "mobile", "--data", str(other)).exit_code == 0

    refused = invoke("restore", str(backup), "--data", str(other))
    assert refused.exit_code == 1
    assert "already holds events.sqlite3" in refused.output
    forced = invoke("restore", str(backup), "--data", str(other), "--force")
    assert forced.exit_code == 0, forced.output
    with SqliteEventStore.open(other / "events.sqlite3") as store:
        assert [source.name for source in store.list_sources()] == ["web"]


def test_restore_refuses_a_damaged_copy_and_a_backup_without_manifest(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert invoke("sources", "create", "web", "--data", str(data)).exit_code == 0
    backup = tmp_path / "backup"
    assert invoke("backup", str(backup), "--data", str(data)).exit_code == 0
    with (backup / "events.sqlite3").open("r+b") as copy:
        copy.seek(200)
        copy.write(b"\xff")
    damaged = invoke("restore", str(backup), "--data", str(tmp_path / "fresh"))
    assert damaged.exit_code == 1
    assert "events.sqlite3 differs from the manifest" in damaged.output
    assert not (tmp_path / "fresh" / "events.sqlite3").exists()

    (backup / MANIFEST_NAME).unlink()
    unfinished = invoke("restore", str(backup), "--data", str(tmp_path / "fresh"))
    assert unfinished.exit_code == 1
    assert "holds no manifest.json" in unfinished.output


def test_restore_refuses_a_backup_whose_profiles_are_ahead_of_its_events(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert invoke("sources", "create", "web", "--data", str(data)).exit_code == 0
    SqliteProfileStore.in_directory(data).close()
    backup = tmp_path / "backup"
    assert invoke("backup", str(backup), "--data", str(data)).exit_code == 0
    manifest = json.loads((backup / MANIFEST_NAME).read_text())
    for entry in manifest["files"]:
        if entry["store"] == "profiles":
            entry["last_event_seq"] = 7
    (backup / MANIFEST_NAME).write_text(json.dumps(manifest))
    refused = invoke("restore", str(backup), "--data", str(tmp_path / "fresh"))
    assert refused.exit_code == 1
    assert "beyond the event store's copy (#0): the backup is inconsistent" in refused.output


def test_backup_refuses_a_folder_that_is_not_empty_and_a_missing_event_store(
    tmp_path: Path,
) -> None:
    missing = invoke("backup", str(tmp_path / "b1"), "--data", str(tmp_path / "nothing"))
    assert missing.exit_code == 1
    assert "no event store in" in missing.output
    data = tmp_path / "data"
    assert invoke("sources", "create", "web", "--data", str(data)).exit_code == 0
    (tmp_path / "b2").mkdir()
    (tmp_path / "b2" / "notes.txt").write_text("mine")
    busy = invoke("backup", str(tmp_path / "b2"), "--data", str(data))
    assert busy.exit_code == 1
    assert "is not empty" in busy.output


def test_backup_and_restore_on_postgresql_name_pg_dump_and_pg_restore() -> None:
    url = "postgresql://postgres@127.0.0.1:5432/test"
    for command in (["backup", "/tmp/unused-backup"], ["restore", "."]):
        refused = invoke(*command, "--database-url", url)
        assert refused.exit_code == 2
        assert "pg_dump --format=custom" in refused.output
        assert "pg_restore --no-owner" in refused.output


def test_a_restored_folder_serves_again(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert (
        invoke("sources", "create", "web", "--write-key", WRITE_KEY, "--data", str(data)).exit_code
        == 0
    )
    backup = tmp_path / "backup"
    assert invoke("backup", str(backup), "--data", str(data)).exit_code == 0
    restored = tmp_path / "restored"
    assert invoke("restore", str(backup), "--data", str(restored)).exit_code == 0
    shutil.rmtree(data)
    again = AudienceServer(restored, tmp_path / "again.log", admin_token=ADMIN_TOKEN)
    with again:
        reply = httpx.post(
            f"{again.url}/v1/track",
            json={"userId": "u1", "event": "Back"},
            auth=(WRITE_KEY, ""),
            timeout=10,
        )
        assert reply.status_code == 200
