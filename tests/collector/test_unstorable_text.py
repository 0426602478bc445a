"""Text no store can hold (a NUL character) is refused where it arrives, on both stores.

PostgreSQL cannot keep a NUL in a text column: one such id in a group commit used to fail the
whole group, answering 503 to every request in it (and the clients retried for ever).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.served_app import ServedApp, serve_app


@pytest.fixture(params=["sqlite", "postgres"])
def collector(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServedApp]:
    with serve_app(tmp_path / "data", request.param) as running:
        yield running


@pytest.mark.parametrize("field", ["userId", "anonymousId", "messageId", "event"])
def test_an_event_with_a_nul_in_an_indexed_field_is_refused_alone(
    collector: ServedApp, field: str
) -> None:
    bad = {"type": "track", "userId": "u1", "event": "Bad", "messageId": "bad-1"}
    bad[field] = "a\x00b"
    good = {"type": "track", "userId": "u1", "event": "Good", "messageId": "good-1"}
    response = collector.tracking.post("/v1/batch", json={"batch": [bad, good]})
    assert response.status_code == 200
    meta = response.json()["meta"]
    assert (meta["stored"], meta["dropped"]) == (1, 1)
    assert meta["errors"] == [f"batch[0].{field}: contains a NUL character"]
    stored = collector.admin.get("/api/events").json()["events"]
    assert [event["messageId"] for event in stored] == ["good-1"]


def test_a_write_key_with_a_nul_is_unknown(collector: ServedApp) -> None:
    key = base64.b64encode(b"WK\x00:").decode()
    response = collector.admin.post(  # the admin client: no write key of its own
        "/v1/track",
        json={"userId": "u1", "event": "E"},
        headers={"Authorization": f"Basic {key}"},
    )
    assert response.status_code == 401
    settings = collector.admin.get("/v1/projects/WK%00/settings")
    assert settings.status_code == 404
