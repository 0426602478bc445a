"""Destinations inside the collector: the dispatcher runs beside it, the admin API shows state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from audience.config import load_settings
from audience.destinations.base import DestinationConfig
from audience.destinations.sqlite_deliveries import SqliteDeliveryStore
from audience.serving.app import build_server_app
from support import AdminApi, LiveServer, Receiver, wait_for


def test_serve_delivers_tracked_events_and_reports_delivery_state(
    tmp_path: Path, receiver: Receiver
) -> None:
    data_dir = tmp_path / "serve-data"
    state = SqliteDeliveryStore.in_data_dir(data_dir)
    hook = {"url": receiver.url, "secret": "k" * 16}
    state.add(DestinationConfig("hook", "webhook", hook), 0, 0.0)
    state.close()
    receiver.start()
    settings = load_settings(env={}, overrides={"data_dir": data_dir})
    app, first = build_server_app(settings)

    with (
        LiveServer(app) as server,
        httpx.Client(base_url=server.url) as client,
        AdminApi(server.url, first.admin_token) as admin,
    ):
        status = track_and_watch(client, admin, receiver, first.source.write_key)

    assert status["name"] == "hook"
    assert status["cursor"] == 1
    assert status["lag"] == 0
    assert status["pending_events"] == 0
    assert status["dead_events"] == 0
    assert status["settings"]["options"]["secret"] == "***"
    (delivered_message,) = receiver.requests[0].batch
    assert delivered_message["messageId"] == "m-1"
    assert "traits" not in delivered_message["context"]


def track_and_watch(
    client: httpx.Client, admin: AdminApi, receiver: Receiver, write_key: str
) -> dict[str, Any]:
    """Track one event, wait for its delivery; the admin API and pages show it (only to the
    admin). ``client`` has no credentials."""
    message = {
        "type": "track",
        "event": "Clicked Email",
        "userId": "12091906-01011992",
        "messageId": "m-1",
        "context": {"traits": {"plan_id": "Paid, Tier 2"}},
    }
    sent = client.post("/v1/batch", json={"batch": [message]}, auth=(write_key, ""))
    assert sent.status_code == 200, sent.text

    def delivered() -> int:
        reply = admin.get("/api/destinations").json()
        return int(reply["destinations"][0]["delivered_events"])

    wait_for(lambda: delivered() == 1, 60, "the delivery")
    (status,) = admin.get("/api/destinations").json()["destinations"]
    assert client.get("/api/destinations").status_code == 401
    page = admin.get("/destinations")
    assert page.status_code == 200
    assert '<tr data-destination="hook">' in page.text
    assert '<td class="delivered">1</td>' in page.text
    assert receiver.url in page.text
    assert '<a href="/destinations" aria-current="page">Destinations</a>' in page.text
    profiles = admin.get("/profiles")
    assert 'href="/destinations"' in profiles.text  # every page links it
    assert client.get("/destinations").status_code == 303  # to the login page
    return dict(status)
