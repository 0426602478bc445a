"""Operator merges and splits over HTTP: POST /api/profiles/merge and /api/profiles/{id}/split."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.served_app import ServedApp, serve_app


def two_people_on_one_tablet() -> list[dict[str, Any]]:
    """alice identifies on the tablet first; bob's identify there is refused."""
    return [
        {"type": "identify", "anonymousId": "tablet", "userId": "alice",
         "timestamp": "2026-11-29T10:00:00Z"},
        {"type": "identify", "anonymousId": "tablet", "userId": "bob",
         "timestamp": "2026-11-29T10:01:00Z"},
        {"type": "track", "userId": "bob", "event": "Viewed", "timestamp": "2026-11-29T10:02:00Z"},
    ]  # fmt: skip


@pytest.fixture(params=["sqlite", "postgres"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServedApp]:
    with serve_app(tmp_path / "data", request.param) as running:
        running.send(*two_people_on_one_tablet())
        running.resolved()
        yield running


def profile_id(served: ServedApp, **identifier: str) -> str:
    profile = served.admin.profile(**identifier)
    assert profile is not None
    return str(profile["id"])


def test_a_merge_over_http_joins_the_two_profiles_and_logs_who_and_why(served: ServedApp) -> None:
    alice, bob = profile_id(served, userId="alice"), profile_id(served, userId="bob")
    response = served.admin.post(
        "/api/profiles/merge",
        json={"profiles": [alice, bob], "reason": "one person, two logins", "actor": "jane"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["action"]["kind"] == "merge"
    assert {(i["type"], i["value"]) for i in body["profile"]["identifiers"]} == {
        ("user_id", "alice"),
        ("user_id", "bob"),
        ("anonymous_id", "tablet"),
    }
    merges = served.admin.get(f"/api/profiles/{body['profile']['id']}/merges").json()["merges"]
    [merge] = [m for m in merges if m["kind"] == "merge"]
    assert merge["reason"].endswith("by jane: one person, two logins")


def test_a_split_over_http_is_accepted_and_the_rebuilt_profiles_hold_it_apart(
    served: ServedApp,
) -> None:
    alice = profile_id(served, userId="alice")
    response = served.admin.post(
        f"/api/profiles/{alice}/split",
        json={"identifier": {"type": "anonymous_id", "id": "tablet"}, "reason": "shared"},
    )
    assert response.status_code == 202, response.text
    assert response.json()["action"]["actor"] == "admin"
    served.resolved()
    tablet = served.admin.profile(anonymousId="tablet")
    assert tablet is not None
    assert [(i["type"], i["value"]) for i in tablet["identifiers"]] == [("anonymous_id", "tablet")]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"reason": "x"}, 400, "profiles"),
        ({"profiles": ["one"], "reason": "x"}, 400, "profiles"),
        ({"profiles": ["a", 7], "reason": "x"}, 400, "profiles[1]"),
        ({"profiles": ["ALICE", "BOB"]}, 400, "reason"),
        ({"profiles": ["ALICE", "BOB"], "reason": ""}, 400, "reason"),
        ({"profiles": ["ALICE", "prof_nobody"], "reason": "x"}, 404, "profiles[1]"),
        ({"profiles": ["ALICE", "ALICE"], "reason": "x"}, 409, "profiles"),
        ([1, 2], 400, "body"),
    ],
)
def test_a_bad_merge_body_gets_a_4xx_naming_the_field(
    served: ServedApp, body: Any, status: int, field: str
) -> None:
    ids = {"ALICE": profile_id(served, userId="alice"), "BOB": profile_id(served, userId="bob")}
    if isinstance(body, dict) and "profiles" in body:
        body["profiles"] = [ids.get(p, p) if isinstance(p, str) else p for p in body["profiles"]]
    response = served.admin.post("/api/profiles/merge", json=body)
    assert response.status_code == status, response.text
    assert response.json()["errors"][0]["field"] == field


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"reason": "x"}, 400, "identifier"),
        ({"identifier": {"type": "phone", "id": "1"}, "reason": "x"}, 400, "identifier.type"),
        ({"identifier": {"type": "user_id", "id": "  "}, "reason": "x"}, 400, "identifier.id"),
        ({"identifier": {"type": "user_id", "id": "bob"}, "reason": "x"}, 409, "identifier"),
        ({"identifier": {"type": "user_id", "id": "alice"}}, 400, "reason"),
    ],
)
def test_a_bad_split_body_gets_a_4xx_naming_the_field(
    served: ServedApp, body: dict[str, Any], status: int, field: str
) -> None:
    alice = profile_id(served, userId="alice")
    response = served.admin.post(f"/api/profiles/{alice}/split", json=body)
    assert response.status_code == status, response.text
    assert response.json()["errors"][0]["field"] == field


def test_a_split_of_an_unknown_profile_is_404_and_not_json_is_400(served: ServedApp) -> None:
    unknown = served.admin.post(
        "/api/profiles/prof_nobody/split",
        json={"identifier": {"type": "user_id", "id": "bob"}, "reason": "x"},
    )
    assert unknown.status_code == 404
    garbled = served.admin.post(
        f"/api/profiles/{profile_id(served, userId='alice')}/split", content=b"{not json"
    )
    assert garbled.status_code == 400
    assert garbled.json()["errors"][0]["field"] == "body"


def test_merge_and_split_need_the_admin_token(served: ServedApp) -> None:
    response = httpx.post(
        f"{served.url}/api/profiles/merge", json={"profiles": ["a", "b"], "reason": "x"}
    )
    assert response.status_code == 401
