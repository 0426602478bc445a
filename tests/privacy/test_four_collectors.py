"""Suppression with four ``audience serve`` processes on one PostgreSQL database, as on four
hosts: once a regulation has ended, every process applies it to the next event it gets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from audience.storage.postgres_events import PostgresEventStore
from postgres_db import schema_with_source
from support import collectors_sharing, wait_for

WRITE_KEY = "four-hosts-privacy-key"
ADMIN_TOKEN = "four-hosts-admin-token-of-the-privacy-tests"
PROCESSES = 4


@pytest.fixture
def database() -> Iterator[str]:
    with schema_with_source(WRITE_KEY) as url:
        yield url


@pytest.fixture
def collectors(database: str, tmp_path: Path) -> Iterator[list[str]]:
    with collectors_sharing(database, tmp_path, PROCESSES, admin_token=ADMIN_TOKEN) as urls:
        yield urls


def regulate(url: str, kind: str, user_id: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as admin:
        body = {"regulationType": kind, "subjectType": "USER_ID", "subjectIds": [user_id]}
        response = admin.post("/api/regulations", json=body)
        assert response.status_code == 202, response.text
        path = f"/api/regulations/{response.json()['regulation']['id']}"

        def ended() -> dict[str, Any] | None:
            found: dict[str, Any] = admin.get(path).json()["regulation"]
            return found if found["status"] != "RUNNING" else None

        regulation: dict[str, Any] = wait_for(ended, 60, "the regulation to end")
        return regulation


def send(url: str, *messages: dict[str, Any]) -> None:
    with httpx.Client(base_url=url, auth=(WRITE_KEY, ""), timeout=30) as client:
        response = client.post("/v1/batch", json={"batch": list(messages)})
        assert response.status_code == 200, response.text


def stored_ids(database: str) -> set[str]:
    with PostgresEventStore.open(database) as store:
        return {str(e.message["messageId"]) for e in store.read_after(0, 10_000)}


def test_every_process_drops_a_suppressed_persons_events_until_unsuppressed(
    database: str, collectors: list[str]
) -> None:
    suppressed = regulate(collectors[0], "SUPPRESS", "ada")
    assert suppressed["status"] == "FINISHED"
    for number, url in enumerate(collectors):
        send(
            url,
            {"type": "track", "event": "Clicked", "userId": "ada", "messageId": f"ada-{number}"},
            {"type": "track", "event": "Clicked", "userId": "bob", "messageId": f"bob-{number}"},
        )
    assert stored_ids(database) == {f"bob-{number}" for number in range(PROCESSES)}
    for url in collectors:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        stats = httpx.get(f"{url}/api/stats", headers=headers).json()
        assert stats["dropped"]["web"] == {"suppressed": 1}

    lifted = regulate(collectors[PROCESSES - 1], "UNSUPPRESS", "ada")
    assert lifted["status"] == "FINISHED"
    for number, url in enumerate(collectors):
        send(
            url, {"type": "track", "event": "Back", "userId": "ada", "messageId": f"back-{number}"}
        )
    assert {f"back-{number}" for number in range(PROCESSES)} <= stored_ids(database)
