"""The OpenAPI description: valid OpenAPI 3.1, and describing every route the server serves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openapi_spec_validator import validate
from starlette.applications import Starlette
from starlette.routing import Route

from audience.collector.openapi import OPERATIONS, openapi_document, served_operations
from audience.config import Settings
from audience.serving.app import build_server_app
from interop.harness import CIO_BROWSER_BUNDLE, SEGMENT_BROWSER_BUNDLE
from support import LiveServer


@pytest.fixture(params=["with the browser bundles", "without them"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Starlette, str]]:
    """``audience serve``'s own application served on loopback, and its URL."""
    with_bundle = request.param == "with the browser bundles"
    bundle = (CIO_BROWSER_BUNDLE, SEGMENT_BROWSER_BUNDLE) if with_bundle else ()
    settings = Settings(data_dir=tmp_path / "data", admin_token="t", browser_bundle=bundle)
    app, _ = build_server_app(settings)
    server = LiveServer(app)
    server.start()
    try:
        yield app, server.url
    finally:
        server.stop()


def test_every_operation_audience_can_serve_is_valid_openapi_3_1() -> None:
    document = openapi_document()
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_every_route_the_server_serves_is_described(served: tuple[Starlette, str]) -> None:
    """A route added later without a description fails here."""
    server_app, _ = served
    assert all(isinstance(route, Route) for route in server_app.routes)
    undescribed = sorted(
        (path, method)
        for path, method in served_operations(server_app.routes)
        if method not in OPERATIONS.get(path, {})
    )
    assert undescribed == []


def test_the_served_description_is_valid_and_lists_exactly_what_is_served(
    served: tuple[Starlette, str],
) -> None:
    server_app, url = served
    response = httpx.get(f"{url}/openapi.json")
    assert response.status_code == 200
    document = response.json()
    validate(document)
    described = {
        (path, method) for path, methods in document["paths"].items() for method in methods
    }
    assert described == served_operations(server_app.routes)
    bundle_served = any(path.startswith("/v1/analytics-js/") for path, _ in described)
    assert bundle_served == any(
        getattr(route, "path", "").startswith("/v1/analytics-js/") for route in server_app.routes
    )


def test_the_tracking_api_is_described_with_its_short_forms_and_error_shape() -> None:
    paths = openapi_document()["paths"]
    for name in ("identify", "i", "track", "t", "page", "p", "screen", "s", "group", "g"):
        assert f"/v1/{name}" in paths
    for name in ("alias", "a", "batch", "b", "m"):
        assert f"/v1/{name}" in paths
    responses = paths["/v1/batch"]["post"]["responses"]
    assert responses["413"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    events = paths["/api/events"]["get"]["responses"]
    assert events["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/QueryError"
    }


def test_the_description_names_each_operation_once_with_a_summary() -> None:
    for path, methods in OPERATIONS.items():
        for method, operation in methods.items():
            assert operation["summary"], (path, method)
            assert operation["responses"], (path, method)
