"""A bounded fuzz run of every described operation against a real ``audience serve``.

schemathesis reads the server's own ``/openapi.json`` and sends generated requests to the
running process over a real socket: the tracking routes with the write key, everything else
with the admin token. Every answer must be below 500 and match what the description says of
that status (its schema and content type). ``scripts/fuzz-api`` runs the same for longer.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from interop.harness import CIO_BROWSER_BUNDLE, SEGMENT_BROWSER_BUNDLE
from postgres_db import fresh_schema
from support import AudienceServer

WRITE_KEY = "wk_fuzz"
ADMIN_TOKEN = "fuzz-admin-token-long-enough-to-be-accepted"
EXAMPLES = {GenerationMode.POSITIVE: 8, GenerationMode.NEGATIVE: 6}
"""Generated requests per operation and mode: a short run (about 25 s) in the test suite;
``AUDIENCE_FUZZ_EXAMPLES`` (``scripts/fuzz-api``) asks for more."""
if "AUDIENCE_FUZZ_EXAMPLES" in os.environ:
    EXAMPLES = dict.fromkeys(EXAMPLES, int(os.environ["AUDIENCE_FUZZ_EXAMPLES"]))

BACKENDS = os.environ.get("AUDIENCE_FUZZ_BACKENDS", "sqlite").split(",")
"""The stores the server runs on: SQLite here; ``scripts/fuzz-api`` adds PostgreSQL."""

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module", params=BACKENDS)
def fuzzed_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AudienceServer]:
    base = tmp_path_factory.mktemp("fuzz")
    with ExitStack() as stack:
        env = {"AUDIENCE_SYNCHRONOUS": "normal"}
        if request.param == "postgres":
            env["AUDIENCE_DATABASE_URL"] = stack.enter_context(fresh_schema())
        server = AudienceServer(
            data_dir=base / "data",
            sources={"default": WRITE_KEY},
            admin_token=ADMIN_TOKEN,
            log_path=base / "serve.log",
            browser_bundles=(CIO_BROWSER_BUNDLE, SEGMENT_BROWSER_BUNDLE),
            env=env,
        )
        server.start()
        try:
            yield server
        finally:
            server.stop()
            log = server.log()
            assert "Traceback" not in log, log[-4000:]


def credentials(path: str) -> dict[str, str]:
    """The write key for the tracking routes, the admin token for the others."""
    if path.startswith("/v1/") and not path.startswith(("/v1/projects/", "/v1/analytics-js/")):
        return {"Authorization": f"Bearer {WRITE_KEY}"}
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
HEADER_VALUE = re.compile(r"^[\t\x20-\x7e\x80-\xff]*$")


def valid_http(headers: dict[str, Any]) -> dict[str, Any]:
    """The headers HTTP can carry: negative cases also invent names and values that are not
    HTTP at all, which uvicorn refuses before any application sees them."""
    return {
        name: value
        for name, value in headers.items()
        if HEADER_NAME.match(name) and HEADER_VALUE.match(str(value))
    }


MAX_REQUEST_HEAD = 12 * 1024
"""uvicorn refuses a request line and headers over 16 KB itself, as it should, with a plain-text
400 before audience sees the request; generated requests larger than that are not sent."""


def request_head_size(case: Any, base_url: str, headers: dict[str, Any]) -> int:
    kwargs = case.as_transport_kwargs(base_url=base_url, headers=headers)
    prepared = requests.Request(
        kwargs["method"],
        kwargs["url"],
        params=kwargs.get("params"),
        headers=kwargs.get("headers"),
        cookies=kwargs.get("cookies"),
    ).prepare()
    return len(prepared.url or "") + sum(
        len(name) + len(str(value)) + 4 for name, value in prepared.headers.items()
    )


def fuzz(operation: Any, mode: GenerationMode, base_url: str) -> None:
    """Send ``EXAMPLES`` generated requests to one operation, checking every answer."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES[mode],
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def send(case: Any) -> None:
        headers = {**credentials(case.path), **valid_http(case.headers or {})}
        case.headers = {}
        case.cookies = valid_http(case.cookies or {})
        assume(request_head_size(case, base_url, headers) < MAX_REQUEST_HEAD)
        case.call_and_validate(
            base_url=base_url,
            headers=headers,
            checks=CHECKS,
            allow_redirects=False,
            timeout=30,
        )

    send()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_operation_answers_a_server_error_or_breaks_its_description(
    mode: GenerationMode, fuzzed_server: AudienceServer
) -> None:
    """Valid requests (positive) and requests that break the description (negative) alike."""
    api = schemathesis.openapi.from_url(f"{fuzzed_server.url}/openapi.json")
    failures: list[str] = []
    tried = 0
    for result in api.get_all_operations():
        operation = result.ok()
        tried += 1
        try:
            fuzz(operation, mode, fuzzed_server.url)
        except Unsatisfiable:
            continue  # nothing breaks the description of an operation without inputs
        except Exception as exc:
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:1500]}")
    assert tried >= 40
    assert failures == [], "\n\n".join(failures)
