"""Build the stores of a release as that release writes them, for the upgrade tests.

Run it with the release's code checked out, from the repository root::

    .venv/bin/python tests/upgrade/make_release_data.py tests/upgrade/data/0.1.0

It writes ``data.tar.gz`` (a data folder: events, sources, an admin session, resolved profiles
with joins and a refused join, a webhook and a warehouse destination with delivered, pending and
dead-lettered batches), ``postgres.sql`` (``pg_dump`` of a schema filled the same way, in the
schema ``release_data``) and ``contents.json`` (what the stores hold, read back by the release
itself: see ``tests/support/store_contents.py``).
"""

from __future__ import annotations

import argparse
import difflib
import json
import subprocess
import sys
import tarfile
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# These are the 0.1.0 modules, present when the release is checked out; the sorter cannot see
# them in later trees, so this block keeps its order by hand.
# ruff: noqa: I001
from audience.config import Settings
from audience.destinations.base import DestinationConfig, DestinationPolicy
from audience.destinations.postgres_choice import open_delivery_store
from audience.resolution.backend import open_profile_store
from audience.storage.admin_sessions import AdminSession
from audience.storage.backend import EventStore
from audience.storage.base import EventRecord
from audience.storage.postgres import PostgresEventStore
from audience.storage.sqlite import SqliteEventStore
from audience.testing import FakeClock
from postgres_db import POSTGRES, schema_url
from support.store_contents import store_contents

SCHEMA = "release_data"
"""The PostgreSQL schema the dump is taken from; a restore renames it."""

SESSION_HASH = "9f2c4e6a8b0d1f3e5a7c9b1d3f5e7a9c"
NOW = 1_796_000_000.0

_MESSAGES: list[dict[str, Any]] = [
    {"type": "page", "anonymousId": "anon-1", "name": "Home"},
    {"type": "track", "anonymousId": "anon-1", "event": "Product Viewed"},
    {
        "type": "identify",
        "anonymousId": "anon-1",
        "userId": "alice",
        "traits": {"email": "alice@example.com", "plan": "pro"},
    },
    {"type": "page", "anonymousId": "anon-2", "name": "Pricing"},
    {"type": "identify", "anonymousId": "anon-2", "userId": "alice", "traits": {"plan": "team"}},
    {"type": "track", "userId": "alice", "event": "Order Completed", "properties": {"total": 42}},
    {"type": "identify", "anonymousId": "anon-3", "userId": "bob", "traits": {"name": "Bob"}},
    {"type": "identify", "anonymousId": "anon-3", "userId": "carol"},
    {"type": "alias", "previousId": "bob-old", "userId": "bob"},
    {"type": "group", "userId": "bob", "groupId": "acme", "traits": {"name": "Acme"}},
    {"type": "identify", "anonymousId": "anon-4", "traits": {"email": "dave@example.com"}},
    {"type": "track", "anonymousId": "anon-4", "event": "Signed Up"},
]


def records() -> list[EventRecord]:
    """The release's events, as the collector would commit them."""
    made = []
    for number, fields in enumerate(_MESSAGES, start=1):
        when = datetime.fromtimestamp(NOW + number * 60, UTC).isoformat().replace("+00:00", "Z")
        message = {"messageId": f"release-{number}", "timestamp": when, "receivedAt": when}
        message.update(fields)
        made.append(
            EventRecord(
                source="web",
                message_id=message["messageId"],
                type=message["type"],
                user_id=message.get("userId"),
                anonymous_id=message.get("anonymousId"),
                event=message.get("event"),
                received_at=when,
                timestamp=when,
                request_ip="203.0.113.7",
                message=orjson.dumps(message),
            )
        )
    return made


def fill(settings: Settings) -> dict[str, Any]:
    """Fill the stores ``settings`` name and return what they hold."""
    clock = FakeClock(datetime.fromtimestamp(NOW, UTC))
    events: EventStore
    if settings.database_url:
        events = PostgresEventStore.open(settings.database_url, clock=clock)
    else:
        events = SqliteEventStore.open(settings.database_path, clock=clock)
    events.create_source("web", "release-web-key")
    events.create_source("backend", "release-backend-key")
    events.set_meta_once("admin_token", "release-admin-token")
    events.add_admin_session(AdminSession(SESSION_HASH, NOW, NOW + 30))
    events.append(records()).result()
    profiles = open_profile_store(settings)
    profiles.clear(link_email=True)
    profiles.apply(events.read_after(0, 1000))
    deliveries = open_delivery_store(settings)
    policy = DestinationPolicy(max_attempts=3, initial_backoff=1.0, max_backoff=60.0)
    deliveries.add(
        DestinationConfig(
            "crm",
            "webhook",
            {"url": "https://hooks.example.com/audience", "secret": "release-secret"},
            delivery=policy,
        ),
        0,
        NOW,
    )
    deliveries.add(
        DestinationConfig(
            "warehouse", "postgres", {"url": "postgresql://warehouse.example/analytics"}, "web"
        ),
        0,
        NOW,
    )
    dead = deliveries.claim("crm", 0, 4, [1, 2, 3, 4], NOW + 1)
    pending = deliveries.claim("crm", 4, 8, [5, 6, 7, 8], NOW + 2)
    sent = deliveries.claim("warehouse", 0, 6, [1, 2, 3, 4, 5, 6], NOW + 3)
    waiting = deliveries.claim("warehouse", 6, 12, [7, 8, 9, 10, 11, 12], NOW + 4)
    if not (dead and pending and sent and waiting):
        raise SystemExit("a claim opened no batch")
    for attempt in range(3):
        deliveries.failed(dead, f"HTTP 500 ({attempt + 1})", NOW + 5, NOW + 6, dead=attempt == 2)
    deliveries.failed(pending, "timed out", NOW + 7, NOW + 60, dead=False)
    deliveries.delivered(sent, NOW + 8)
    contents = store_contents(events, profiles, deliveries, [SESSION_HASH])
    deliveries.close()
    profiles.close()
    events.close()
    return contents


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    args = parser.parse_args()
    folder: Path = args.folder
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "data"
        sqlite_contents = fill(Settings(data_dir=data))
        with tarfile.open(folder / "data.tar.gz", "w:gz") as archive:
            for path in sorted(data.iterdir()):
                if path.suffix == ".sqlite3":
                    archive.add(path, arcname=f"data/{path.name}")
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        admin.execute(f"CREATE SCHEMA {SCHEMA}")
    try:
        with tempfile.TemporaryDirectory() as scratch:
            url = schema_url(SCHEMA)
            postgres_contents = fill(Settings(data_dir=Path(scratch), database_url=url))
        dump = subprocess.run(
            ["pg_dump", "--schema", SCHEMA, "--no-owner", "--no-privileges", POSTGRES],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        (folder / "postgres.sql").write_text(dump)
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    if postgres_contents != sqlite_contents:
        a = json.dumps(sqlite_contents, indent=1, sort_keys=True).splitlines()
        b = json.dumps(postgres_contents, indent=1, sort_keys=True).splitlines()
        differences = "\n".join(difflib.unified_diff(a, b, lineterm=""))
        raise SystemExit(f"the SQLite and PostgreSQL stores hold different things:\n{differences}")
    text = json.dumps(sqlite_contents, indent=1, sort_keys=True)
    (folder / "contents.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
