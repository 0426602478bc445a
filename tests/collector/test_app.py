from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
from collector_support import ADMIN_TOKEN, WRITE_KEY
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from audience.collector.app import create_app
from audience.collector.ingest import Submission
from audience.collector.parts import CollectorParts
from audience.config import Settings
from audience.serving.app import build_server_app
from support import LiveServer


class Recorder:
    """A background component that notes when it starts and stops."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    async def start(self) -> None:
        self.log.append(f"start {self.name}")

    async def stop(self) -> None:
        self.log.append(f"stop {self.name}")


def test_extra_routes_and_components_run_inside_the_collector_app(
    make_parts: Callable[..., CollectorParts],
) -> None:
    parts = make_parts()
    log: list[str] = []

    async def profiles(request: Request) -> Response:
        return JSONResponse({"profiles": [], "lastSeq": parts.store.last_seq()})

    app = create_app(
        parts,
        routes=[Route("/api/profiles", parts.guard.protect(profiles))],
        components=[Recorder("resolver", log), Recorder("destinations", log)],
    )
    server = LiveServer(app)
    server.start()
    try:
        assert log == ["start resolver", "start destinations"]
        with httpx.Client(base_url=server.url) as client:
            body = {"writeKey": WRITE_KEY, "userId": "u1", "event": "E"}
            assert client.post("/v1/track", json=body).status_code == 200
            assert client.get("/api/profiles").status_code == 401
            answer = client.get("/api/profiles", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
            assert answer.json() == {"profiles": [], "lastSeq": 1}
    finally:
        server.stop()
    assert log[2:] == ["stop destinations", "stop resolver"]


def test_the_ingestor_stores_events_without_http(
    make_parts: Callable[..., CollectorParts],
) -> None:
    """What ``audience replay`` uses: validate, enrich and commit a parsed batch."""
    parts = make_parts()
    heard: list[int] = []
    parts.store.add_commit_listener(heard.append)
    batch = {"batch": [{"type": "identify", "userId": "u1"}, {"type": "track", "userId": "u1"}]}
    outcome = parts.ingestor.ingest(Submission("default", batch)).result()
    assert (outcome.stored, outcome.duplicates, outcome.dropped) == (1, 0, 1)
    assert [str(r) for r in outcome.rejections] == ["batch[1].event: is missing"]
    [event] = parts.store.read_after(0, 10)
    assert event.message["type"] == "identify"
    assert event.message["receivedAt"] == "2026-11-29T12:00:00.000Z"
    assert heard == [1]


def test_the_server_app_creates_its_store_and_first_source(tmp_path: Path) -> None:
    app, first = build_server_app(Settings(data_dir=tmp_path / "data"))
    server = LiveServer(app)
    server.start()
    try:
        body = {"writeKey": first.source.write_key, "userId": "u1", "event": "E"}
        assert httpx.post(f"{server.url}/v1/track", json=body).status_code == 200
    finally:
        server.stop()
    assert first.source.name == "default"
    assert (tmp_path / "data" / "events.sqlite3").exists()
