"""``--log-format json``: each line ``audience serve`` and its children write is a JSON object."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from audience import logs
from audience.config import load_settings
from audience.errors import ConfigError
from support.audience_server import AudienceServer
from support.waiting import wait_for

ADMIN_TOKEN = "t" * 40
REQUEST_ID = "edge-7f3a:42"


def _json_lines(server: AudienceServer) -> list[dict[str, Any]]:
    """Every line the server wrote, parsed (the helper's own ``$ audience`` lines left out)."""
    lines = [line for line in server.log().splitlines() if not line.startswith("$ audience ")]
    return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture
def json_server(tmp_path: Path) -> AudienceServer:
    return AudienceServer(
        tmp_path / "data",
        tmp_path / "serve.log",
        admin_token=ADMIN_TOKEN,
        extra_args=("--log-format", "json"),
    )


def test_every_line_of_serve_and_its_children_is_a_json_object_with_the_request_id(
    json_server: AudienceServer,
) -> None:
    with json_server:
        wait_for(
            lambda: (
                {"resolver", "dispatcher"} <= {line["role"] for line in _json_lines(json_server)}
            ),
            30,
            "the children's first lines",
        )
        key = next(line["writeKey"] for line in _json_lines(json_server) if "writeKey" in line)
        with httpx.Client(base_url=json_server.url, timeout=10) as http:
            given = http.post(
                "/v1/batch",
                auth=(key, ""),
                headers={"X-Request-Id": REQUEST_ID},
                json={"batch": [{"type": "track", "userId": "u1"}]},  # no event: refused
            )
            drawn = http.get("/healthz", headers={"X-Request-Id": "no spaces allowed"})
        wait_for(
            lambda: any(line.get("requestId") == REQUEST_ID for line in _json_lines(json_server)),
            10,
            "the refusal's log line",
        )
    assert given.headers["x-request-id"] == REQUEST_ID
    assert drawn.headers["x-request-id"] not in ("", "no spaces allowed")
    lines = _json_lines(json_server)
    for line in lines:
        assert {"time", "level", "logger", "message", "role", "pid"} <= set(line), line
        assert line["time"].endswith("+00:00")
    roles = {line["role"] for line in lines}
    assert roles == {"collector", "resolver", "dispatcher"}
    refusal = next(line for line in lines if line.get("requestId") == REQUEST_ID)
    assert refusal["level"] == "warning"
    assert "refused 1 message(s)" in refusal["message"]
    assert refusal["role"] == "collector"
    banner = next(line for line in lines if "writeKey" in line)
    assert banner["source"] == "default"
    assert any(line["message"] == "resolver stopped" for line in lines)
    assert any(line["message"] == "dispatcher stopped" for line in lines)


def test_the_plain_format_stays_the_default(tmp_path: Path) -> None:
    with AudienceServer(tmp_path / "data", tmp_path / "serve.log", admin_token=ADMIN_TOKEN) as s:
        wait_for(lambda: "resolver started" in s.log(), 30, "the resolver's first line")
    assert "write key: " in s.log()
    with pytest.raises(json.JSONDecodeError):
        json.loads(next(line for line in s.log().splitlines() if "resolver started" in line))


def test_the_log_format_comes_from_the_environment_and_a_wrong_one_is_named() -> None:
    assert load_settings(env={"AUDIENCE_LOG_FORMAT": "json"}).log_format == "json"
    assert load_settings(env={}).log_format == "plain"
    with pytest.raises(ConfigError, match="AUDIENCE_LOG_FORMAT: 'xml' is not plain or json"):
        load_settings(env={"AUDIENCE_LOG_FORMAT": "xml"})


def test_a_json_line_carries_the_extra_fields_and_the_exception() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter("cli"))
    logger = logging.getLogger("audience.tests.json")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        token = logs.request_id.set("r-1")
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("it failed", extra={"batch": 7, "when": Path("/x")})
        finally:
            logs.request_id.reset(token)
        logger.warning("after the request")
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "it failed"
    assert first["level"] == "error"
    assert first["role"] == "cli"
    assert first["requestId"] == "r-1"
    assert (first["batch"], first["when"]) == (7, "/x")
    assert "ValueError: boom" in first["exception"]
    assert "requestId" not in second
