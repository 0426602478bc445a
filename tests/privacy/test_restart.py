"""A regulation interrupted by a crash of ``audience serve`` is finished by the restarted server,
on SQLite and PostgreSQL: the lease of the dead process is given up as the new one starts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from audience.config import Settings
from audience.storage.backend import open_event_store
from postgres_db import fresh_schema
from privacy.test_served_regulations import ADA, journey
from support import AdminApi, AudienceServer, wait_for

ADMIN_TOKEN = "restart-admin-token-of-the-privacy-tests"
WRITE_KEY = "WK_PRIVACY_RESTART"


@pytest.fixture(params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AudienceServer]:
    extra: tuple[str, ...] = ()
    with fresh_schema() as url:
        if request.param == "postgres":
            extra = ("--database-url", url)
        served = AudienceServer(
            tmp_path / "data",
            tmp_path / "serve.log",
            admin_token=ADMIN_TOKEN,
            sources={"web": WRITE_KEY},
            extra_args=extra,
            env={"AUDIENCE_DATABASE_URL": url} if extra else {},
        )
        try:
            yield served
        finally:
            served.stop()


def test_a_deletion_cut_short_by_a_crash_is_finished_after_the_restart(
    server: AudienceServer,
) -> None:
    server.start()
    with httpx.Client(base_url=server.url, auth=(WRITE_KEY, ""), timeout=30) as tracking:
        assert tracking.post("/v1/batch", json={"batch": journey()}).status_code == 200
    with AdminApi(server.url, ADMIN_TOKEN, timeout=30) as admin:
        admin.wait_until_resolved()
        body = {
            "regulationType": "SUPPRESS_WITH_DELETE",
            "subjectType": "USER_ID",
            "subjectIds": [ADA],
        }
        regulation_id = admin.post("/api/regulations", json=body).json()["regulation"]["id"]

        def midway() -> bool:
            found: dict[str, Any] = admin.get(f"/api/regulations/{regulation_id}").json()
            steps = {s["name"]: s["state"] for s in found["regulation"]["progress"]}
            return steps["resolve"] == "done" and steps["suppress"] == "pending"

        wait_for(midway, 30, "the regulation to be suppressing", every=0.02)
    server.kill()

    url = dict(zip(server.extra_args[::2], server.extra_args[1::2], strict=True)).get(
        "--database-url"
    )
    with open_event_store(Settings(data_dir=server.data_dir, database_url=url)) as store:
        kept = store.regulation(regulation_id)
        assert kept is not None
        assert kept.status == "RUNNING", "the crash cut it short"
        assert len(store.read_after(0, 100)) == 9, "nothing deleted yet"

    server.start()
    with AdminApi(server.url, ADMIN_TOKEN, timeout=30) as admin:

        def ended() -> dict[str, Any] | None:
            found: dict[str, Any] = admin.get(f"/api/regulations/{regulation_id}").json()
            return found["regulation"] if found["regulation"]["status"] != "RUNNING" else None

        finished = wait_for(ended, 30, "the restarted server to finish the regulation")
        assert finished["status"] == "FINISHED", finished
        stored = admin.get("/api/events", params={"limit": "100"}).json()["events"]
        assert [event["userId"] for event in stored] == ["bob"]
        assert admin.profile(userId=ADA) is None
