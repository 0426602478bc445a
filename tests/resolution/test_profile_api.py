from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.served_app import ServedApp, serve_app


def seed_flow() -> list[dict[str, Any]]:
    """The seed's journey as the browser source sends it, with explicit timestamps."""
    return [
        {
            "type": "page",
            "anonymousId": "anon-1",
            "name": "Home",
            "timestamp": "2026-11-29T10:00:00Z",
        },
        {
            "type": "track",
            "anonymousId": "anon-1",
            "event": "Added to Cart",
            "timestamp": "2026-11-29T10:01:00Z",
        },
        {
            "type": "identify",
            "anonymousId": "anon-1",
            "userId": "user_123",
            "traits": {"name": "Jane Kim", "email": "jane@example.com"},
            "timestamp": "2026-11-29T10:02:00Z",
        },
        {
            "type": "track",
            "anonymousId": "anon-1",
            "userId": "user_123",
            "event": "Checkout Started",
            "timestamp": "2026-11-29T10:03:00Z",
        },
        {
            "type": "track",
            "anonymousId": "anon-1",
            "userId": "user_123",
            "event": "Order Completed",
            "timestamp": "2026-11-29T10:04:00Z",
        },
        {
            "type": "page",
            "anonymousId": "anon-2",
            "name": "Home",
            "timestamp": "2026-11-29T10:05:00Z",
        },
    ]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServedApp]:
    with serve_app(tmp_path / "data") as running:
        running.send(*seed_flow())
        running.resolved()
        yield running


def test_lookup_by_user_id_returns_the_joined_profile(served: ServedApp) -> None:
    response = served.admin.get("/api/profiles/lookup", params={"userId": "user_123"})
    assert response.status_code == 200
    profile = response.json()["profile"]
    assert {(i["type"], i["value"]) for i in profile["identifiers"]} == {
        ("user_id", "user_123"),
        ("anonymous_id", "anon-1"),
    }
    assert profile["traits"] == {"name": "Jane Kim", "email": "jane@example.com"}
    assert profile["eventCount"] == 5
    assert profile["firstSeen"].startswith("2026-11-29T10:00:00")
    assert profile["lastSeen"].startswith("2026-11-29T10:04:00")
    assert profile["groups"] == []


def test_lookup_by_anonymous_id_and_by_email_find_the_same_person(served: ServedApp) -> None:
    by_user = served.admin.get("/api/profiles/lookup", params={"userId": "user_123"}).json()
    by_anon = served.admin.get("/api/profiles/lookup", params={"anonymousId": "anon-1"}).json()
    by_email = served.admin.get("/api/profiles/lookup", params={"email": "Jane@Example.com"})
    assert by_user == by_anon == by_email.json()


def test_lookup_of_an_unknown_id_is_404(served: ServedApp) -> None:
    response = served.admin.get("/api/profiles/lookup", params={"userId": "nobody"})
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_the_profile_api_needs_the_admin_token(served: ServedApp) -> None:
    response = httpx.get(f"{served.url}/api/profiles/lookup", params={"userId": "user_123"})
    assert response.status_code == 401


def test_profile_events_come_in_time_order_with_the_identifier_that_linked_each(
    served: ServedApp,
) -> None:
    profile = served.admin.get("/api/profiles/lookup", params={"userId": "user_123"}).json()
    response = served.admin.get(f"/api/profiles/{profile['profile']['id']}/events")
    events = response.json()["events"]
    assert [e["message"].get("event") or e["message"]["type"] for e in events] == [
        "page",
        "Added to Cart",
        "identify",
        "Checkout Started",
        "Order Completed",
    ]
    assert [e["linkedBy"]["type"] for e in events] == [
        "anonymous_id",
        "anonymous_id",
        "user_id",
        "user_id",
        "user_id",
    ]


def test_the_page_after_reset_belongs_to_a_new_anonymous_profile(served: ServedApp) -> None:
    after = served.admin.get("/api/profiles/lookup", params={"anonymousId": "anon-2"}).json()
    person = served.admin.get("/api/profiles/lookup", params={"userId": "user_123"}).json()
    assert after["profile"]["id"] != person["profile"]["id"]
    assert after["profile"]["eventCount"] == 1


def test_get_profile_by_id_and_its_merge_log(served: ServedApp) -> None:
    found = served.admin.get("/api/profiles/lookup", params={"userId": "user_123"}).json()
    profile_id = found["profile"]["id"]
    assert served.admin.get(f"/api/profiles/{profile_id}").json() == found
    merges = served.admin.get(f"/api/profiles/{profile_id}/merges").json()["merges"]
    assert [(m["status"], m["kind"]) for m in merges] == [("joined", "identify")]
    assert "anon-1" in merges[0]["reason"]
    assert served.admin.get("/api/profiles/prof_nothing").status_code == 404


def test_search_by_trait_value_and_limit(served: ServedApp) -> None:
    found = served.admin.get("/api/profiles", params={"query": "Jane"}).json()["profiles"]
    assert [p["identifiers"][0]["value"] for p in found] == ["user_123"]
    everyone = served.admin.get("/api/profiles", params={"limit": "1"}).json()["profiles"]
    assert len(everyone) == 1
    assert served.admin.get("/api/profiles", params={"limit": "0"}).status_code == 400


def test_refused_merges_are_visible_in_the_resolution_status(served: ServedApp) -> None:
    served.send(
        {
            "type": "identify",
            "anonymousId": "anon-1",
            "userId": "someone_else",
            "timestamp": "2026-11-29T11:00:00Z",
        }
    )
    served.resolved()
    warnings = served.admin.get("/api/resolution").json()["warnings"]
    assert [w["kind"] for w in warnings] == ["merge_refused"]
    assert "someone_else" in warnings[0]["detail"]


def test_an_anonymous_id_shared_by_more_users_than_the_limit_is_reported_by_the_api(
    served: ServedApp,
) -> None:
    """The default limit is 10 user ids: the eleventh makes the kiosk shared."""
    served.send(
        *(
            {
                "type": "identify",
                "anonymousId": "kiosk",
                "userId": f"cashier-{i}",
                "timestamp": f"2026-11-29T12:{i:02d}:00Z",
            }
            for i in range(11)
        )
    )
    served.resolved()
    warnings = served.admin.get("/api/resolution").json()["warnings"]
    shared = [w for w in warnings if w["kind"] == "shared_identifier"]
    assert len(shared) == 1
    assert "'kiosk' is linked to more than 10 user ids" in shared[0]["detail"]
    kiosk = served.admin.get("/api/profiles/lookup", params={"anonymousId": "kiosk"}).json()
    assert kiosk["profile"]["identifiers"] == [{"type": "anonymous_id", "value": "kiosk"}]
    first = served.admin.get("/api/profiles/lookup", params={"userId": "cashier-0"}).json()
    merges = served.admin.get(f"/api/profiles/{first['profile']['id']}/merges").json()["merges"]
    assert [m["status"] for m in merges] == ["refused"]
    assert "shared identifier" in merges[0]["reason"]
