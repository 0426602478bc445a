"""Every page and admin reply of ``audience serve`` carries the same security headers."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from collector_support import ADMIN_TOKEN

from audience.http.security_headers import CONTENT_SECURITY_POLICY, SECURITY_HEADERS
from support import AudienceServer

PAGES = ["/profiles", "/profiles/no-such-profile", "/live", "/sources", "/destinations"]
ADMIN_REPLIES = [
    "/live/events",
    "/api/stats",
    "/api/events",
    "/api/sources",
    "/api/profiles",
    "/api/resolution",
    "/api/destinations",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AudienceServer]:
    base = tmp_path_factory.mktemp("headers")
    serving = AudienceServer(base / "data", base / "serve.log", admin_token=ADMIN_TOKEN)
    serving.start()
    try:
        yield serving
    finally:
        serving.stop()


@pytest.fixture(scope="module")
def admin(server: AudienceServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.post("/login", data={"token": ADMIN_TOKEN}).status_code == 303
        yield client


def assert_secured(response: httpx.Response) -> None:
    headers = response.headers
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"


def test_the_policy_is_strict() -> None:
    """Only this server's own files run: no inline script, no eval, no framing, no plugins."""
    directives = dict(part.strip().split(" ", 1) for part in CONTENT_SECURITY_POLICY.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY


@pytest.mark.parametrize("path", ["/login", "/login?next=/live"])
def test_the_login_form_carries_the_security_headers(server: AudienceServer, path: str) -> None:
    response = httpx.get(f"{server.url}{path}")
    assert response.status_code == 200
    assert_secured(response)
    assert response.headers["cache-control"] == "no-store"


def test_a_failed_login_and_the_redirect_to_login_carry_them_too(server: AudienceServer) -> None:
    failed = httpx.post(f"{server.url}/login", data={"token": "wrong"})
    assert failed.status_code == 401
    assert_secured(failed)
    redirect = httpx.get(f"{server.url}/profiles")
    assert redirect.status_code == 303
    assert_secured(redirect)


@pytest.mark.parametrize("path", PAGES)
def test_every_page_carries_the_security_headers_and_is_never_cached(
    admin: httpx.Client, path: str
) -> None:
    response = admin.get(path)
    assert response.status_code in (200, 404)
    assert response.headers["content-type"].startswith("text/html")
    assert_secured(response)
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", ADMIN_REPLIES)
def test_every_admin_reply_carries_the_security_headers(admin: httpx.Client, path: str) -> None:
    response = admin.get(path)
    assert response.status_code == 200, response.text
    assert_secured(response)
    assert response.headers["cache-control"] == "no-store"


def test_static_files_are_revalidated_rather_than_never_stored(admin: httpx.Client) -> None:
    response = admin.get("/ui/live.js")
    assert response.headers["content-type"].startswith("text/javascript")
    assert_secured(response)
    assert response.headers["cache-control"] == "no-cache"


def test_the_destinations_page_is_rendered_by_the_pages_own_templates(
    admin: httpx.Client,
) -> None:
    html = admin.get("/destinations").text
    assert '<link rel="stylesheet" href="/ui/style.css">' in html
    assert 'action="/logout"' in html
    assert 'aria-current="page">Destinations' in html


def test_pages_have_no_inline_script_or_style(admin: httpx.Client, server: AudienceServer) -> None:
    for path in [*PAGES, "/login"]:
        html = httpx.get(f"{server.url}{path}").text if path == "/login" else admin.get(path).text
        assert "<script>" not in html
        assert " style=" not in html
        assert " onclick=" not in html
        assert "<style" not in html


def test_the_destinations_page_sends_every_security_header_the_other_pages_send(
    admin: httpx.Client,
) -> None:
    destinations = admin.get("/destinations")
    profiles = admin.get("/profiles")
    assert destinations.status_code == profiles.status_code == 200
    for name in SECURITY_HEADERS:
        assert destinations.headers[name] == profiles.headers[name]
    assert destinations.headers["cache-control"] == "no-store"
