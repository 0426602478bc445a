"""Hostile and broken input: never a 5xx, a crash or a hang; every rejection names the field."""

from __future__ import annotations

import gzip
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from collector_support import ADMIN_TOKEN, WRITE_KEY
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audience.collector.app import build_parts, create_app
from audience.config import Settings
from audience.pages.login import login_page
from audience.storage.sqlite_events import SqliteEventStore
from audience.testing import CountingIds, FakeClock
from support import LiveServer

Stored = Callable[..., list[dict[str, Any]]]
GOOD = {"type": "track", "userId": "u1", "event": "Good"}


def post(client: httpx.Client, path: str, content: bytes, **headers: str) -> httpx.Response:
    return client.post(path, content=content, headers={"Content-Type": "text/plain", **headers})


def nested(depth: int) -> bytes:
    return (
        b'{"writeKey":"'
        + WRITE_KEY.encode()
        + b'","userId":"u","event":"E","properties":'
        + (b'{"a":' * depth + b"1" + b"}" * depth)
        + b"}"
    )


@pytest.mark.parametrize(
    ("content", "field"),
    [
        (b'{"batch": [', "body"),
        (b"", "body"),
        (b"[1, 2, 3]", "body"),
        (b'{"batch": {"type": "track"}}', "batch"),
        (b'{"writeKey": "' + WRITE_KEY.encode() + b'"}', "batch"),
        (b'{"batch": [], "x": "\xff\xfe"}', "body"),
        (b'{"batch": [{"type": "track", "userId": NaN}]}', "body"),
        (b'{"batch": [{"type": "track", "userId": 1e400}]}', "body"),
        (b'{"batch":' + b"[" * 10_000 + b"]" * 10_000 + b"}", "body"),
    ],
    ids=[
        "truncated",
        "empty",
        "array",
        "batch object",
        "no batch",
        "invalid utf-8",
        "NaN",
        "infinite number",
        "nesting 10000 deep",
    ],
)
def test_an_unreadable_batch_gets_400_naming_what_is_wrong(
    client: httpx.Client, content: bytes, field: str
) -> None:
    response = post(client, "/v1/batch", content, Authorization=f"Bearer {WRITE_KEY}")
    assert response.status_code == 400
    assert response.json()["meta"]["errors"][0].startswith(field)


def test_nesting_the_store_cannot_serialize_is_dropped_with_a_reason(
    client: httpx.Client, stored: Stored
) -> None:
    response = post(client, "/v1/t", nested(600))
    assert response.status_code == 200
    assert response.json()["meta"]["errors"] == ["body: is nested too deeply"]
    assert post(client, "/v1/t", nested(3_000)).status_code == 400
    assert stored(client) == []


def test_wrong_types_in_every_field_are_each_named(client: httpx.Client, stored: Stored) -> None:
    wrong = {
        "type": "track",
        "userId": {"x": 1},
        "anonymousId": [1],
        "messageId": False,
        "event": 7,
        "properties": "p",
        "context": [],
        "integrations": 1,
        "timestamp": {},
        "sentAt": 3,
    }
    body = {"writeKey": WRITE_KEY, "batch": [wrong, GOOD]}
    response = client.post("/v1/batch", json=body)
    assert response.status_code == 200
    fields = {error.split(":")[0] for error in response.json()["meta"]["errors"]}
    assert fields >= {
        "batch[0].userId",
        "batch[0].anonymousId",
        "batch[0].messageId",
        "batch[0].event",
        "batch[0].properties",
        "batch[0].context",
        "batch[0].integrations",
        "batch[0].timestamp",
        "batch[0].sentAt",
    }
    assert [event["event"] for event in stored(client)] == ["Good"]


def test_huge_numbers_duplicate_keys_and_odd_text_are_stored_as_parsed(
    client: httpx.Client, stored: Stored
) -> None:
    content = (
        b'{"writeKey":"' + WRITE_KEY.encode() + b'","userId":"u1","userId":"u2",'
        b'"event":"\xe2\x9c\x93 zero","properties":{"n":123456789012345678901234567890,'
        b'"text":"\\u0000 zero"}}'
    )
    assert post(client, "/v1/t", content).status_code == 200
    [event] = stored(client)
    assert event["userId"] == "u2"
    assert event["event"] == "\u2713 zero"
    assert event["properties"]["text"] == "\x00 zero"  # ids and names may not hold a NUL
    assert event["properties"]["n"] == pytest.approx(1.2345678901234568e29)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Basic " + "QQ==" * 2000},
        {"Authorization": "Digest abc"},
        {"Authorization": "Bearer " + "k" * 5000},
    ],
    ids=["missing", "bad base64", "huge basic", "other scheme", "huge bearer"],
)
def test_missing_or_garbled_credentials_get_401(
    client: httpx.Client, headers: dict[str, str]
) -> None:
    response = client.post("/v1/batch", json={"batch": [GOOD]}, headers=headers)
    assert response.status_code == 401
    assert response.json()["meta"]["errors"][0].startswith("writeKey: ")


@pytest.mark.parametrize("key", [None, 12, "", ["k"], "unknown"])
def test_a_body_write_key_that_is_not_a_known_string_gets_401(
    client: httpx.Client, key: object
) -> None:
    response = client.post("/v1/track", json={**GOOD, "writeKey": key})
    assert response.status_code == 401


def test_a_50_mb_body_is_refused_from_its_length_alone(client: httpx.Client) -> None:
    body = b"x" * (50 * 1024 * 1024)
    response = post(client, "/v1/batch", body, Authorization=f"Bearer {WRITE_KEY}")
    assert response.status_code == 413
    assert client.get("/healthz").status_code == 200


def test_a_50_mb_chunked_body_is_refused_after_the_limit(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(50):
            yield b" " * (1024 * 1024)

    try:
        response = client.post(
            "/v1/batch", content=chunks(), headers={"Authorization": f"Bearer {WRITE_KEY}"}
        )
    except httpx.TransportError:
        pass  # the server may close the connection while the client still sends
    else:
        assert response.status_code == 413
    assert client.get("/healthz").status_code == 200


def test_a_gzip_bomb_is_refused(client: httpx.Client) -> None:
    bomb = gzip.compress(b"[" + b" " * 60_000_000 + b"]")
    response = post(
        client,
        "/v1/batch",
        bomb,
        Authorization=f"Bearer {WRITE_KEY}",
        **{"Content-Encoding": "gzip"},
    )
    assert response.status_code == 413


def test_oversized_events_and_batches_leave_the_server_healthy(
    client: httpx.Client, stored: Stored
) -> None:
    big = {**GOOD, "properties": {"b": "x" * 40_000}}
    refused = client.post("/v1/t", json={**big, "writeKey": WRITE_KEY})
    assert (refused.status_code, refused.json()["meta"]["dropped"]) == (200, 1)
    huge = {"writeKey": WRITE_KEY, "batch": [big] * 250}
    assert client.post("/v1/batch", json=huge).status_code == 413
    assert client.post("/v1/t", json={**GOOD, "writeKey": WRITE_KEY}).status_code == 200
    assert len(stored(client)) == 1


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
FIELD_NAMES = st.sampled_from(
    [
        "type",
        "userId",
        "anonymousId",
        "messageId",
        "event",
        "properties",
        "traits",
        "context",
        "integrations",
        "timestamp",
        "sentAt",
        "groupId",
        "previousId",
        "name",
        "category",
    ]
)
MESSAGES = st.dictionaries(FIELD_NAMES, JSON_VALUES | st.sampled_from(["track", "identify"]))


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(MESSAGES | JSON_VALUES, max_size=6), envelope=JSON_VALUES)
def test_any_json_batch_gets_a_4xx_or_a_200_that_names_each_dropped_field(
    fuzz_client: httpx.Client, batch: list[Any], envelope: Any
) -> None:
    body: Any = {"batch": batch, "context": envelope}
    response = fuzz_client.post(
        "/v1/batch", content=orjson.dumps(body), headers={"Authorization": f"Bearer {WRITE_KEY}"}
    )
    assert response.status_code in (200, 400)
    meta = response.json().get("meta")
    if meta is not None:
        for error in meta["errors"]:
            assert error.split(":")[0].startswith(("batch", "body"))


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(message=MESSAGES | JSON_VALUES, path=st.sampled_from(["/v1/t", "/v1/i", "/v1/g", "/v1/a"]))
def test_any_json_single_event_gets_a_4xx_or_a_200(
    fuzz_client: httpx.Client, message: Any, path: str
) -> None:
    response = fuzz_client.post(
        path, content=orjson.dumps(message), headers={"Authorization": f"Bearer {WRITE_KEY}"}
    )
    assert response.status_code in (200, 400)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(content=st.binary(max_size=300))
def test_any_bytes_get_a_4xx_or_a_200(fuzz_client: httpx.Client, content: bytes) -> None:
    response = fuzz_client.post(
        "/v1/batch", content=content, headers={"Authorization": f"Bearer {WRITE_KEY}"}
    )
    assert response.status_code in (200, 400)


@pytest.fixture(scope="module")
def fuzz_client() -> Iterator[httpx.Client]:
    """One server for every generated example (starting one per example would be slow)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder)
        store = SqliteEventStore.open(path / "events.sqlite3", synchronous="normal")
        store.create_source("default", WRITE_KEY)
        parts = build_parts(
            replace(Settings(), data_dir=path),
            store,
            admin_token=ADMIN_TOKEN,
            login_page=login_page,
            clock=FakeClock(),
            ids=CountingIds(),
        )
        server = LiveServer(create_app(parts, close_store=True))
        server.start()
        with httpx.Client(base_url=server.url, timeout=30) as client:
            yield client
        server.stop()
