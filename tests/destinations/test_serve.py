"""Destinations inside the collector: the dispatcher runs beside it, the admin API shows state."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from audience.collector.app import build_server_app
from audience.config import load_settings
from audience.destinations.base import DestinationConfig
from audience.destinations.state import SqliteDeliveryStore

from .receiver import Receiver, free_port


def wait_for(condition: Callable[[], bool], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition never held")
        time.sleep(0.05)


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

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run)
    thread.start()
    try:
        wait_for(lambda: server.started)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            status = track_and_watch(client, receiver, first.source.write_key, first.admin_token)
    finally:
        server.should_exit = True
        thread.join(30)

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
    client: httpx.Client, receiver: Receiver, write_key: str, admin_token: str
) -> dict[str, Any]:
    admin = {"Authorization": f"Bearer {admin_token}"}
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
        reply = client.get("/api/destinations", headers=admin).json()
        return int(reply["destinations"][0]["delivered_events"])

    wait_for(lambda: delivered() == 1)
    (status,) = client.get("/api/destinations", headers=admin).json()["destinations"]
    assert client.get("/api/destinations").status_code == 401
    page = client.get("/destinations", headers=admin)
    assert page.status_code == 200
    assert '<tr data-destination="hook">' in page.text
    assert '<td class="delivered">1</td>' in page.text
    assert receiver.url in page.text
    assert '<a href="/destinations" aria-current="page">Destinations</a>' in page.text
    profiles = client.get("/profiles", headers=admin)
    assert 'href="/destinations"' in profiles.text  # every page links it
    assert client.get("/destinations").status_code == 303  # to the login page
    return dict(status)
