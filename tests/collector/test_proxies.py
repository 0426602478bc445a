"""Forwarded headers are believed only from the trusted proxies, for every use of them."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from collector_support import ADMIN_TOKEN, WRITE_KEY

from audience.http.proxies import TrustedProxies, VisitorView
from audience.storage.sqlite_events import SqliteEventStore
from support import AudienceServer


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert TrustedProxies().client_address("10.0.0.5", "1.2.3.4") == "10.0.0.5"


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client() -> None:
    proxies = TrustedProxies(["10.0.0.0/8"])
    assert proxies.client_address("10.0.0.5", "198.51.100.7") == "198.51.100.7"


def test_addresses_a_client_writes_before_the_proxies_are_not_believed() -> None:
    proxies = TrustedProxies(["10.0.0.0/8"])
    forwarded = "6.6.6.6, 198.51.100.7, 10.0.0.9"
    assert proxies.client_address("10.0.0.5", forwarded) == "198.51.100.7"


def test_an_untrusted_peer_cannot_forge_its_address() -> None:
    proxies = TrustedProxies(["10.0.0.0/8"])
    assert proxies.client_address("203.0.113.1", "1.1.1.1") == "203.0.113.1"


def test_a_garbage_forwarded_entry_falls_back_to_the_peer() -> None:
    proxies = TrustedProxies(["127.0.0.1"])
    assert proxies.client_address("127.0.0.1", "not-an-ip") == "127.0.0.1"


def test_without_trusted_proxies_no_forwarded_header_is_believed_from_loopback_either() -> None:
    headers = {
        "host": "127.0.0.1:8000",
        "x-forwarded-for": "198.51.100.7",
        "x-forwarded-proto": "https",
        "x-forwarded-host": "cdp.example.com",
    }
    view = TrustedProxies().view("127.0.0.1", "http", headers)
    assert view == VisitorView("127.0.0.1", "http", "127.0.0.1:8000")
    assert view.origin == "http://127.0.0.1:8000"


def test_a_trusted_proxy_tells_the_address_scheme_and_host() -> None:
    headers = {
        "host": "collector:8000",
        "x-forwarded-for": "198.51.100.7",
        "x-forwarded-proto": "https",
        "x-forwarded-host": "CDP.example.com:443",
    }
    view = TrustedProxies(["10.0.0.0/8"]).view("10.0.0.2", "http", headers)
    assert view == VisitorView("198.51.100.7", "https", "CDP.example.com:443")
    assert view.origin == "https://cdp.example.com"


def test_of_several_forwarded_values_the_nearest_proxys_counts() -> None:
    headers = {
        "x-forwarded-proto": "http, https",
        "x-forwarded-host": "forged.example, cdp.example",
    }
    view = TrustedProxies(["10.0.0.0/8"]).view("10.0.0.2", "http", headers)
    assert (view.scheme, view.host) == ("https", "cdp.example")


@pytest.mark.parametrize(
    "forwarded",
    [
        {"x-forwarded-proto": "gopher", "x-forwarded-host": "evil.example/path"},
        {"x-forwarded-proto": "", "x-forwarded-host": "user@evil.example"},
        {"x-forwarded-host": "a b"},
    ],
)
def test_a_malformed_forwarded_scheme_or_host_is_ignored(forwarded: dict[str, str]) -> None:
    headers = {"host": "collector:8000", **forwarded}
    view = TrustedProxies(["10.0.0.0/8"]).view("10.0.0.2", "http", headers)
    assert (view.scheme, view.host) == ("http", "collector:8000")


def track_and_read_ip(server: AudienceServer, **headers: str) -> str:
    body = {"writeKey": WRITE_KEY, "userId": "u1", "event": "Seen", "context": {"direct": True}}
    response = httpx.post(f"{server.url}/v1/track", json=body, headers=headers)
    assert response.status_code == 200
    with server.admin() as admin:
        ip: str = admin.events()[0]["context"]["ip"]
    return ip


def browser_settings(server: AudienceServer, **headers: str) -> dict[str, str]:
    response = httpx.get(f"{server.url}/v1/projects/{WRITE_KEY}/settings", headers=headers)
    integration: dict[str, str] = response.json()["integrations"]["Customer.io Data Pipelines"]
    return integration


FORWARDED = {
    "X-Forwarded-For": "198.51.100.7",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "cdp.example.com",
}


def serve_with(tmp_path: Path, *args: str) -> AudienceServer:
    server = AudienceServer(
        tmp_path / "data", tmp_path / "serve.log", admin_token=ADMIN_TOKEN, extra_args=args
    )
    server.data_dir.mkdir(parents=True)
    with SqliteEventStore.open(server.data_dir / "events.sqlite3") as store:
        store.create_source("web", WRITE_KEY)
    server.start()
    return server


def test_serve_ignores_forwarded_headers_from_loopback_without_a_trusted_proxy(
    tmp_path: Path,
) -> None:
    server = serve_with(tmp_path)
    try:
        assert track_and_read_ip(server, **FORWARDED) == "127.0.0.1"
        settings = browser_settings(server, **FORWARDED)
        assert settings["apiHost"] == f"127.0.0.1:{server.port}/v1"
        assert settings["protocol"] == "http"
    finally:
        server.stop()


def test_serve_believes_forwarded_headers_from_a_trusted_proxy(tmp_path: Path) -> None:
    server = serve_with(tmp_path, "--trusted-proxy", "127.0.0.1")
    try:
        assert track_and_read_ip(server, **FORWARDED) == "198.51.100.7"
        settings = browser_settings(server, **FORWARDED)
        assert settings["apiHost"] == "cdp.example.com/v1"
        assert settings["protocol"] == "https"
    finally:
        server.stop()
