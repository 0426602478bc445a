from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from collector_support import ADMIN_TOKEN, WRITE_KEY

from audience import __version__

Stored = Callable[..., list[dict[str, Any]]]
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def track(client: httpx.Client, user_id: str, event: str, **fields: Any) -> None:
    body = {"writeKey": WRITE_KEY, "userId": user_id, "event": event, **fields}
    assert client.post("/v1/track", json=body).status_code == 200


def test_the_browser_settings_point_both_clients_back_at_this_server(
    client: httpx.Client,
) -> None:
    """One settings URL serves the Customer.io browser source and Segment's analytics-next."""
    response = client.get(
        f"/v1/projects/{WRITE_KEY}/settings", headers={"Origin": "http://localhost:8765"}
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://localhost:8765"
    settings = response.json()
    host = client.base_url.host + f":{client.base_url.port}"
    entry = {"apiKey": WRITE_KEY, "apiHost": f"{host}/v1", "protocol": "http"}
    assert settings["integrations"] == {"Customer.io Data Pipelines": entry, "Segment.io": entry}
    assert settings["metrics"] == {"sampleRate": 0, "host": f"{host}/v1", "protocol": "http"}
    assert settings["remotePlugins"] == []
    assert "plan" not in settings  # it would replace the site's own tracking plan


def test_the_browser_settings_use_the_public_url_when_one_is_set(
    make_client: Callable[..., httpx.Client],
) -> None:
    client = make_client(public_url="https://cdp.example.com/collect")
    settings = client.get(f"/v1/projects/{WRITE_KEY}/settings").json()
    entries = list(settings["integrations"].values())
    assert [entry["apiHost"] for entry in entries] == ["cdp.example.com/collect/v1"] * 2
    assert settings["metrics"]["host"] == "cdp.example.com/collect/v1"
    assert {entry["protocol"] for entry in [*entries, settings["metrics"]]} == {"https"}


def test_the_settings_of_an_unknown_write_key_are_404(client: httpx.Client) -> None:
    assert client.get("/v1/projects/nope/settings").status_code == 404


def test_the_segment_settings_point_analytics_next_back_at_this_server(
    client: httpx.Client,
) -> None:
    origin = {"Origin": "http://localhost:8765"}
    response = client.get(f"/segment/v1/projects/{WRITE_KEY}/settings", headers=origin)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://localhost:8765"
    host = client.base_url.host + f":{client.base_url.port}"
    assert response.json() == {
        "integrations": {
            "Segment.io": {"apiKey": WRITE_KEY, "apiHost": f"{host}/v1", "protocol": "http"}
        },
        "metrics": {"sampleRate": 0, "host": f"{host}/v1", "protocol": "http"},
        "remotePlugins": [],
    }
    preflight = client.options(
        f"/segment/v1/projects/{WRITE_KEY}/settings",
        headers={**origin, "Access-Control-Request-Method": "GET"},
    )
    assert preflight.headers["access-control-allow-origin"] == "http://localhost:8765"
    unknown = client.get("/segment/v1/projects/nope/settings", headers=origin)
    assert unknown.status_code == 404
    assert unknown.headers["access-control-allow-origin"] == "http://localhost:8765"


def test_the_segment_settings_use_the_public_url_when_one_is_set(
    make_client: Callable[..., httpx.Client],
) -> None:
    client = make_client(public_url="https://cdp.example.com/collect")
    settings = client.get(f"/segment/v1/projects/{WRITE_KEY}/settings").json()
    integration = settings["integrations"]["Segment.io"]
    assert (integration["apiHost"], integration["protocol"]) == (
        "cdp.example.com/collect/v1",
        "https",
    )


@pytest.mark.parametrize("path", ["/api/events", "/api/sources", "/api/stats"])
@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {ADMIN_TOKEN}"}]
)
def test_the_admin_api_refuses_requests_without_the_admin_token(
    client: httpx.Client, path: str, headers: dict[str, str]
) -> None:
    response = client.get(path, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_admin_events_are_newest_first_and_filter_by_type_user_and_event(
    client: httpx.Client, stored: Stored
) -> None:
    track(client, "u1", "First")
    track(client, "u2", "Second")
    track(client, "u1", "Third")
    body = {"writeKey": WRITE_KEY, "anonymousId": "a9", "traits": {"x": 1}}
    assert client.post("/v1/identify", json=body).status_code == 200
    assert [e.get("event") for e in stored(client)] == [None, "Third", "Second", "First"]
    assert [e["event"] for e in stored(client, userId="u1")] == ["Third", "First"]
    assert [e["event"] for e in stored(client, event="Second")] == ["Second"]
    assert [e["type"] for e in stored(client, type="identify")] == ["identify"]
    assert [e["anonymousId"] for e in stored(client, anonymousId="a9")] == ["a9"]
    assert [e["event"] for e in stored(client, limit="2", type="track")] == ["Third", "Second"]
    assert stored(client, source="nobody") == []


def test_admin_events_refuse_a_bad_limit(client: httpx.Client) -> None:
    response = client.get("/api/events", params={"limit": "0"}, headers=ADMIN)
    assert response.status_code == 400
    assert response.json()["message"].startswith("limit")


def test_admin_stats_and_metrics_count_stored_duplicate_and_dropped_events(
    client: httpx.Client,
) -> None:
    body = {
        "writeKey": WRITE_KEY,
        "batch": [
            {"type": "track", "userId": "u1", "event": "E", "messageId": "m1"},
            {"type": "track", "userId": "u1", "event": "E", "messageId": "m1"},
            {"type": "track", "userId": "u1"},
        ],
    }
    assert client.post("/v1/batch", json=body).status_code == 200
    stats = client.get("/api/stats", headers=ADMIN).json()
    assert stats["stored"] == {"default": 1}
    assert stats["duplicates"] == {"default": 1}
    assert stats["dropped"] == {"default": {"missing_event": 1}}
    metrics = client.get("/metrics").text
    assert 'audience_events_stored_total{source="default"} 1' in metrics
    assert 'audience_events_dropped_total{reason="missing_event",source="default"} 1' in metrics
    assert 'audience_http_request_duration_seconds_bucket{le="+Inf",route="batch"} 1' in metrics


def test_admin_sources_list_names_and_write_keys(client: httpx.Client) -> None:
    response = client.get("/api/sources", headers=ADMIN)
    [source] = response.json()["sources"]
    assert source["name"] == "default"
    assert source["writeKey"] == WRITE_KEY


def test_healthz_answers_with_the_newest_position(client: httpx.Client) -> None:
    track(client, "u1", "E")
    assert client.get("/healthz").json() == {"status": "ok", "version": __version__, "lastSeq": 1}


def test_logging_in_with_the_admin_token_sets_a_session_cookie(client: httpx.Client) -> None:
    assert client.get("/login").status_code == 200
    wrong = client.post("/login", data={"token": "wrong", "next": "/api/stats"})
    assert wrong.status_code == 401
    assert client.get("/api/stats").status_code == 401
    right = client.post("/login", data={"token": ADMIN_TOKEN, "next": "/api/stats"})
    assert right.status_code == 303
    assert right.headers["location"] == "/api/stats"
    assert client.get("/api/stats").status_code == 200
    assert client.post("/logout").status_code == 303
    assert client.get("/api/stats").status_code == 401


def test_login_never_redirects_to_another_site(client: httpx.Client) -> None:
    response = client.post("/login", data={"token": ADMIN_TOKEN, "next": "//evil.test/"})
    assert response.headers["location"] == "/"
