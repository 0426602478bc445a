from __future__ import annotations

import base64
import gzip
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from collector_support import ADMIN_TOKEN, WRITE_KEY

from audience.storage.sqlite_events import SqliteEventStore

Stored = Callable[..., list[dict[str, Any]]]

BASIC = {"Authorization": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()}


def browser_track(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "timestamp": "2026-11-29T11:59:58.000Z",
        "integrations": {},
        "anonymousId": "67cf822e-2956-4838-a767-1ca4fc4861f4",
        "event": "Product Added",
        "type": "track",
        "properties": {"sku": "A-1"},
        "context": {"library": {"name": "analytics.js", "version": "next-0.5.11"}},
        "messageId": "ajs-next-a7392355b619a2dd079c39ef8520dfaf",
        "writeKey": WRITE_KEY,
        "userId": None,
        "sentAt": "2026-11-29T11:59:59.000Z",
    }
    body.update(overrides)
    return body


def post_text(client: httpx.Client, path: str, body: Any, **headers: str) -> Any:
    return client.post(
        path,
        content=orjson.dumps(body),
        headers={"Content-Type": "text/plain", **headers},
    )


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/v1/track", "track"),
        ("/v1/t", "track"),
        ("/v1/page", "page"),
        ("/v1/p", "page"),
        ("/v1/screen", "screen"),
        ("/v1/s", "screen"),
        ("/v1/identify", "identify"),
        ("/v1/i", "identify"),
        ("/v1/group", "group"),
        ("/v1/g", "group"),
        ("/v1/alias", "alias"),
        ("/v1/a", "alias"),
    ],
)
def test_a_single_event_route_stores_the_event_with_the_type_its_path_names(
    client: httpx.Client, stored: Stored, path: str, kind: str
) -> None:
    body = browser_track(type="something else", groupId="g1", previousId="old", userId="u1")
    response = post_text(client, path, body)
    assert response.status_code == 200
    assert response.json() == {}
    [event] = stored(client)
    assert event["type"] == kind
    assert event["messageId"] == body["messageId"]


def test_the_browser_source_posting_text_plain_with_the_write_key_in_the_body_is_stored(
    client: httpx.Client, stored: Stored
) -> None:
    response = post_text(client, "/v1/t", browser_track(), Origin="http://localhost:8765")
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://localhost:8765"
    [event] = stored(client)
    assert event["event"] == "Product Added"
    assert event["anonymousId"] == "67cf822e-2956-4838-a767-1ca4fc4861f4"
    assert event["userId"] is None
    assert event["properties"] == {"sku": "A-1"}
    assert "writeKey" not in event
    assert event["receivedAt"] == "2026-11-29T12:00:00.000Z"
    assert event["timestamp"] == "2026-11-29T11:59:59.000Z"
    assert event["originalTimestamp"] == "2026-11-29T11:59:58.000Z"
    assert event["context"]["ip"] == "127.0.0.1"


@pytest.mark.parametrize(
    "headers",
    [
        BASIC,
        {"Authorization": "Basic " + base64.b64encode(WRITE_KEY.encode()).decode()},
        {"Authorization": f"Bearer {WRITE_KEY}"},
    ],
    ids=["basic", "basic without colon", "bearer"],
)
def test_a_batch_authenticates_with_basic_or_bearer_headers(
    client: httpx.Client, stored: Stored, headers: dict[str, str]
) -> None:
    batch = {"batch": [{"type": "identify", "userId": "u1", "traits": {"plan": "pro"}}]}
    response = client.post("/v1/batch", json=batch, headers=headers)
    assert response.status_code == 200
    [event] = stored(client)
    assert event["traits"] == {"plan": "pro"}


def test_a_write_key_in_the_query_string_is_accepted(client: httpx.Client, stored: Stored) -> None:
    body = {"batch": [{"type": "track", "userId": "u1", "event": "E"}]}
    response = client.post(f"/v1/b?writeKey={WRITE_KEY}", json=body)
    assert response.status_code == 200
    assert len(stored(client)) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic " + base64.b64encode(b"nope:").decode()},
        {"Authorization": "Bearer nope"},
    ],
    ids=["missing", "unknown basic", "unknown bearer"],
)
def test_a_request_without_a_known_write_key_gets_401_and_stores_nothing(
    client: httpx.Client, stored: Stored, headers: dict[str, str]
) -> None:
    body = {"batch": [{"type": "track", "userId": "u1", "event": "E"}]}
    response = client.post("/v1/batch", json=body, headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert stored(client) == []


def test_batch_level_context_and_integrations_merge_into_each_event(
    client: httpx.Client, stored: Stored
) -> None:
    body = {
        "batch": [
            {"type": "track", "userId": "u1", "event": "A", "context": {"locale": "fr"}},
            {"type": "track", "userId": "u1", "event": "B", "integrations": {"X": False}},
        ],
        "context": {"locale": "en", "app": {"name": "shop"}},
        "integrations": {"All": True},
    }
    assert client.post("/v1/batch", json=body, headers=BASIC).status_code == 200
    second, first = stored(client)
    assert first["context"] == {"locale": "fr", "app": {"name": "shop"}}
    assert first["integrations"] == {"All": True}
    assert second["context"] == {"locale": "en", "app": {"name": "shop"}}
    assert second["integrations"] == {"All": True, "X": False}


def test_a_batch_uses_its_sent_at_to_correct_each_event_timestamp(
    client: httpx.Client, stored: Stored
) -> None:
    body = {
        "batch": [
            {
                "type": "track",
                "userId": "u1",
                "event": "A",
                "timestamp": "2030-01-01T00:00:00.000+00:00",
            }
        ],
        "sentAt": "2030-01-01T00:00:10.000000+00:00",
    }
    assert client.post("/v1/batch", json=body, headers=BASIC).status_code == 200
    [event] = stored(client)
    assert event["timestamp"] == "2026-11-29T11:59:50.000Z"
    assert event["originalTimestamp"] == "2030-01-01T00:00:00.000Z"


def test_permissive_mode_stores_the_good_events_and_names_the_bad_fields(
    client: httpx.Client, stored: Stored
) -> None:
    body = {
        "batch": [
            {"type": "track", "userId": "u1", "event": "Good"},
            {"type": "track", "event": "No id"},
            {"type": "identify", "userId": ["not", "a", "string"]},
            {"type": "track", "userId": "u2", "event": "Also good"},
        ]
    }
    response = client.post("/v1/batch", json=body, headers=BASIC)
    assert response.status_code == 200
    meta = response.json()["meta"]
    assert meta["stored"] == 2
    assert meta["dropped"] == 2
    assert "batch[1].userId: is missing, and so is anonymousId" in meta["errors"]
    assert "batch[2].userId: is not a string" in meta["errors"]
    assert [event["event"] for event in stored(client)] == ["Also good", "Good"]


def test_strict_mode_refuses_the_whole_request_naming_each_field(
    client: httpx.Client, stored: Stored
) -> None:
    body = {
        "batch": [
            {"type": "track", "userId": "u1", "event": "Good"},
            {"type": "group", "userId": "u1"},
        ]
    }
    response = client.post("/v1/batch", json=body, headers={**BASIC, "X-Strict-Mode": "1"})
    assert response.status_code == 400
    assert response.json()["meta"]["errors"] == ["batch[1].groupId: is missing"]
    assert stored(client) == []


def test_strict_mode_answers_401_for_an_unknown_key(client: httpx.Client) -> None:
    response = post_text(client, "/v1/t", browser_track(writeKey="nope"), **{"X-Strict-Mode": "1"})
    assert response.status_code == 401


def test_a_resent_message_id_is_acknowledged_and_stored_once(
    client: httpx.Client, stored: Stored
) -> None:
    for _ in range(3):
        assert post_text(client, "/v1/t", browser_track()).status_code == 200
    assert len(stored(client)) == 1


def test_the_same_message_id_in_two_sources_is_stored_for_each(
    client: httpx.Client, store: SqliteEventStore, stored: Stored
) -> None:
    store.create_source("other", "WK_OTHER")
    assert post_text(client, "/v1/t", browser_track()).status_code == 200
    assert post_text(client, "/v1/t", browser_track(writeKey="WK_OTHER")).status_code == 200
    assert post_text(client, "/v1/t", browser_track(writeKey="WK_OTHER")).status_code == 200
    assert len(stored(client, source="default")) == 1
    assert len(stored(client, source="other")) == 1


def test_gzip_bodies_are_inflated(client: httpx.Client, stored: Stored) -> None:
    body = {"batch": [{"type": "track", "userId": "u1", "event": "Zipped"}]}
    response = client.post(
        "/v1/batch",
        content=gzip.compress(orjson.dumps(body)),
        headers={**BASIC, "Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert response.status_code == 200
    assert stored(client)[0]["event"] == "Zipped"


def test_a_preflight_allows_the_headers_segment_sends(client: httpx.Client) -> None:
    response = client.options(
        "/v1/batch",
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-retry-count",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "authorization" in response.headers["access-control-allow-headers"]


def test_error_replies_carry_cors_headers_too(client: httpx.Client) -> None:
    response = post_text(client, "/v1/t", browser_track(writeKey="nope"), Origin="http://a.test")
    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == "http://a.test"


def test_browser_telemetry_is_accepted_and_discarded(client: httpx.Client, stored: Stored) -> None:
    response = client.post("/v1/m", content=b'{"series":[]}')
    assert response.status_code == 200
    assert stored(client) == []


def test_an_event_over_32_kb_on_a_single_route_is_dropped_with_its_reason(
    client: httpx.Client, stored: Stored
) -> None:
    body = browser_track(properties={"blob": "x" * 33_000})
    response = post_text(client, "/v1/t", body)
    assert response.status_code == 200
    meta = response.json()["meta"]
    assert (meta["stored"], meta["dropped"]) == (0, 1)
    assert meta["errors"][0].startswith("body: is 33")
    assert meta["errors"][0].endswith("bytes; the limit is 32768")
    assert stored(client) == []


def test_an_event_over_32_kb_on_a_single_route_is_named_in_strict_mode(
    client: httpx.Client, stored: Stored
) -> None:
    body = browser_track(properties={"blob": "x" * 33_000})
    response = post_text(client, "/v1/t", body, **{"X-Strict-Mode": "1"})
    assert response.status_code == 400
    assert response.json()["meta"]["errors"][0].startswith("body: is 33")
    assert stored(client) == []


def test_an_event_over_32_kb_in_a_batch_is_dropped_beside_the_good_ones(
    client: httpx.Client, stored: Stored
) -> None:
    body = {
        "batch": [
            {"type": "track", "userId": "u1", "event": "Big", "properties": {"b": "x" * 33_000}},
            {"type": "track", "userId": "u1", "event": "Small"},
        ]
    }
    response = client.post("/v1/batch", json=body, headers=BASIC)
    assert response.status_code == 200
    assert response.json()["meta"]["errors"][0].startswith("batch[0]: is 330")
    assert [event["event"] for event in stored(client)] == ["Small"]


def test_a_batch_of_several_megabytes_is_stored_whole(client: httpx.Client, stored: Stored) -> None:
    """Batches up to 8.5 MiB are read: rudder-sdk-python sends up to 8 MiB in one request."""
    events = [
        {"type": "track", "userId": "u1", "event": "E", "properties": {"n": n, "b": "x" * 30_000}}
        for n in range(250)
    ]
    response = client.post("/v1/batch", json={"batch": events}, headers=BASIC)
    assert response.status_code == 200
    assert response.json() == {}
    assert len(stored(client, limit="1000")) == 250


def test_a_request_over_the_request_limit_gets_413(client: httpx.Client, stored: Stored) -> None:
    events = [
        {"type": "track", "userId": "u1", "event": "E", "properties": {"b": "x" * 30_000}}
        for _ in range(300)
    ]
    response = client.post("/v1/batch", json={"batch": events}, headers=BASIC)
    assert response.status_code == 413
    assert response.json()["message"] == "the request body is larger than 8912896 bytes"
    assert stored(client) == []


def test_the_events_past_the_batch_limit_are_refused_alone(
    make_client: Callable[..., httpx.Client], stored: Stored
) -> None:
    client = make_client(max_batch_events=3)
    events = [{"type": "track", "userId": "u", "event": f"E{n}"} for n in range(5)]
    response = client.post("/v1/batch", json={"batch": events}, headers=BASIC)
    assert response.status_code == 200
    assert response.json()["meta"] == {
        "stored": 3,
        "duplicates": 0,
        "dropped": 2,
        "errors": [
            "batch[3]: is past the 3 events one batch may carry",
            "batch[4]: is past the 3 events one batch may carry",
        ],
    }
    assert sorted(event["event"] for event in stored(client)) == ["E0", "E1", "E2"]


def test_when_the_store_cannot_commit_the_client_is_told_to_retry(
    client: httpx.Client, store: SqliteEventStore
) -> None:
    store.close()
    response = post_text(client, "/v1/t", browser_track())
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    admin = client.get("/api/events", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert admin.status_code == 503
