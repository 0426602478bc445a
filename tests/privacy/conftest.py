"""The whole application as ``audience serve`` builds it (children included), served on loopback
over SQLite or PostgreSQL, for the privacy tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from audience.config import Settings
from audience.serving.app import build_server_app
from audience.storage.backend import open_event_store
from postgres_db import fresh_schema
from support import AdminApi, LiveServer, wait_for

ADMIN_TOKEN = "admin-token-of-the-privacy-tests"
WRITE_KEY = "WK_PRIVACY"


@dataclass
class Served:
    """A running application: ``tracking`` posts with the write key, ``admin`` has the token."""

    url: str
    settings: Settings
    tracking: httpx.Client
    admin: AdminApi

    def send(self, *messages: dict[str, Any]) -> dict[str, Any]:
        response = self.tracking.post("/v1/batch", json={"batch": list(messages)})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def regulate(self, kind: str, subject_type: str, *ids: str) -> dict[str, Any]:
        """Request a regulation and wait (bounded) until it has ended; the ended regulation."""
        body = {"regulationType": kind, "subjectType": subject_type, "subjectIds": list(ids)}
        response = self.admin.post("/api/regulations", json=body)
        assert response.status_code == 202, response.text
        regulation_id = response.json()["regulation"]["id"]
        return self.ended(regulation_id)

    def ended(self, regulation_id: str, timeout: float = 60.0) -> dict[str, Any]:
        def status() -> dict[str, Any] | None:
            found: dict[str, Any] = self.admin.get(f"/api/regulations/{regulation_id}").json()
            return found["regulation"] if found["regulation"]["status"] != "RUNNING" else None

        ended: dict[str, Any] = wait_for(status, timeout, "the regulation to end")
        return ended

    def stored(self) -> list[dict[str, Any]]:
        response = self.admin.get("/api/events", params={"limit": "1000"})
        assert response.status_code == 200, response.text
        events: list[dict[str, Any]] = response.json()["events"]
        return events


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def served(tmp_path: Path, backend: str) -> Iterator[Served]:
    with ExitStack() as stack:
        settings = Settings(data_dir=tmp_path, synchronous="normal", admin_token=ADMIN_TOKEN)
        if backend == "postgres":
            settings = replace(settings, database_url=stack.enter_context(fresh_schema()))
        with open_event_store(settings) as store:
            store.create_source("web", WRITE_KEY)
        app, _ = build_server_app(settings)
        server = stack.enter_context(LiveServer(app))
        tracking = stack.enter_context(
            httpx.Client(base_url=server.url, auth=(WRITE_KEY, ""), timeout=60)
        )
        admin = stack.enter_context(AdminApi(server.url, ADMIN_TOKEN, timeout=60))
        yield Served(server.url, settings, tracking, admin)
