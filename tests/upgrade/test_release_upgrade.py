"""Stores written by an earlier release open with this code, are upgraded, and keep everything.

``data/0.1.0`` was written by release 0.1.0 (``make_release_data.py``): a data folder, a
``pg_dump`` of a PostgreSQL schema filled the same way, and what both held, read back by that
release.

The upgrade rule for profiles: they are derived from the event log, and the rules of 0.2 type an
alias's ``previousId`` from its own message (0.1.0 linked it as both a user id and an anonymous
id), so migration ``profiles/0003`` empties the graph and the resolver rebuilds it from the first
event when the server starts. After that rebuild every profile, merge and lookup is what 0.1.0
held, less the anonymous id 0.1.0 made of the aliased ``previousId`` (:func:`as_resolved_now`).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from audience.config import Settings
from audience.destinations.backend import open_delivery_store
from audience.identity.identifiers import Identifier
from audience.resolution.backend import open_profile_store
from audience.resolution.resolver import Resolver
from audience.storage.backend import open_event_store
from audience.storage.base import EventRecord
from audience.storage.migration_files import migrations
from audience.storage.postgres_migrations import applied
from audience.storage.sqlite_migrations import schema_version
from postgres_db import fresh_schema
from support.store_contents import store_contents

RELEASE = Path(__file__).parent / "data" / "0.1.0"
SESSION_HASH = "9f2c4e6a8b0d1f3e5a7c9b1d3f5e7a9c"
DUMPED_SCHEMA = "release_data"
FILES = {
    "events": "events.sqlite3",
    "profiles": "profiles.sqlite3",
    "deliveries": "destinations.sqlite3",
}


def as_released(contents: dict[str, Any]) -> dict[str, Any]:
    """``contents`` with each destination's settings cut to the fields 0.1.0 wrote; fields added
    since then read back at their defaults."""
    released = release_contents()["destinations"]
    for name, destination in contents["destinations"].items():
        fields = released.get(name, {}).get("config", {})
        destination["config"] = _cut(destination["config"], fields)
    return contents


PHANTOM = {"type": "anonymous_id", "value": "bob-old"}
"""The anonymous id 0.1.0 made of the ``previousId`` of bob's alias (a user id by its message)."""


def as_resolved_now(contents: dict[str, Any]) -> dict[str, Any]:
    """What 0.1.0 held, resolved by the rules of now: without the phantom anonymous id."""
    for held in contents["profiles"].values():
        profile = held["profile"]
        if PHANTOM in profile["identifiers"]:
            profile["identifiers"].remove(PHANTOM)
            profile["identifier_count"] -= 1
        held["merges"] = [m for m in held["merges"] if PHANTOM not in (m["a"], m["b"])]
    return contents


def without_operator_fields(contents: dict[str, Any]) -> dict[str, Any]:
    """``contents`` without the merge-log fields 0.1.0 had no operator actions to fill."""
    for held in contents["profiles"].values():
        for merge in held["merges"]:
            assert (merge.pop("actor"), merge.pop("note")) == ("", "")
    return contents


def _cut(value: Any, released: Any) -> Any:
    if isinstance(value, dict) and isinstance(released, dict):
        return {k: _cut(v, released[k]) for k, v in value.items() if k in released}
    return value


def release_contents() -> dict[str, Any]:
    contents: dict[str, Any] = json.loads((RELEASE / "contents.json").read_text())
    return contents


def restored_data_folder(into: Path) -> Path:
    with tarfile.open(RELEASE / "data.tar.gz") as archive:
        archive.extractall(into, filter="data")
    return into / "data"


@pytest.fixture(params=["sqlite", "postgres"])
def release_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """The settings that open the release's stores, restored on one backend."""
    if request.param == "sqlite":
        yield Settings(data_dir=restored_data_folder(tmp_path))
        return
    with fresh_schema() as url:
        schema = url.rsplit("%3D", 1)[1]
        dump = (RELEASE / "postgres.sql").read_text()
        dump = dump.replace(f"CREATE SCHEMA {DUMPED_SCHEMA};", "")
        dump = dump.replace(f"{DUMPED_SCHEMA}.", f'"{schema}".')
        subprocess.run(
            ["psql", "--quiet", "-v", "ON_ERROR_STOP=1", url.split("?")[0]],
            input=dump,
            text=True,
            check=True,
            capture_output=True,
        )
        yield Settings(data_dir=tmp_path, database_url=url)


def contents_now(settings: Settings) -> dict[str, Any]:
    events = open_event_store(settings)
    profiles = open_profile_store(settings)
    deliveries = open_delivery_store(settings)
    try:
        # What the server's resolver does when it starts: catch up from the store's cursor.
        Resolver(events, profiles).catch_up()
        contents = store_contents(events, profiles, deliveries, [SESSION_HASH])
        return without_operator_fields(contents)
    finally:
        deliveries.close()
        profiles.close()
        events.close()


def schema_versions(settings: Settings) -> dict[str, list[int]]:
    """The migrations each store has had applied, by component."""
    if settings.database_url:
        with psycopg.connect(settings.database_url, autocommit=True) as connection:
            return {component: applied(connection, component) for component in FILES}
    found = {}
    for component, name in FILES.items():
        with sqlite3.connect(settings.data_dir / name) as connection:
            version = schema_version(connection)
        found[component] = [
            migration.version
            for migration in migrations(component, "sqlite")
            if migration.version <= version
        ]
    return found


def test_stores_made_by_0_1_0_open_upgrade_and_keep_every_event_profile_and_delivery(
    release_settings: Settings,
) -> None:
    expected = as_resolved_now(release_contents())
    assert as_released(contents_now(release_settings)) == expected
    backend = "postgres" if release_settings.database_url else "sqlite"
    assert schema_versions(release_settings) == {
        component: [migration.version for migration in migrations(component, backend)]
        for component in FILES
    }
    # Opening the upgraded stores again changes nothing either.
    assert as_released(contents_now(release_settings)) == expected


def test_stores_made_by_0_1_0_keep_resolving_and_delivering_after_the_upgrade(
    release_settings: Settings,
) -> None:
    before = release_contents()
    events = open_event_store(release_settings)
    profiles = open_profile_store(release_settings)
    deliveries = open_delivery_store(release_settings)
    try:
        message = {
            "type": "identify",
            "messageId": "after-upgrade",
            "anonymousId": "anon-4",
            "userId": "dave",
            "timestamp": "2026-12-01T00:00:00.000Z",
            "receivedAt": "2026-12-01T00:00:00.000Z",
        }
        record = EventRecord(
            "web", "after-upgrade", "identify", "dave", "anon-4", None,
            message["timestamp"], message["timestamp"], None, orjson.dumps(message),
        )  # fmt: skip
        assert events.append([record]).result().stored == 1
        profiles.apply(events.read_after(profiles.cursor(), 100))
        dave = profiles.lookup(Identifier("user_id", "dave"))
        assert dave is not None
        earlier = profiles.get(before["lookups"]["anonymous_id:anon-4"])
        assert earlier is not None
        assert earlier.id == dave.id
        assert Identifier("email", "dave@example.com") in dave.identifiers
        [dead] = deliveries.dead_letters("crm")
        deliveries.requeue(dead, 1_796_000_100.0)
        assert deliveries.dead_letters("crm") == []
        assert deliveries.stats("crm").pending_batches == 2
    finally:
        deliveries.close()
        profiles.close()
        events.close()


def test_opening_the_0_1_0_profile_store_says_its_profiles_are_rebuilt(
    release_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="audience.resolution"):
        open_profile_store(release_settings).close()
    assert any("rebuilt from the event log" in r.getMessage() for r in caplog.records)
    with caplog.at_level(logging.WARNING, logger="audience.resolution"):
        caplog.clear()
        open_profile_store(release_settings).close()
    assert not any("rebuilt" in r.getMessage() for r in caplog.records)
