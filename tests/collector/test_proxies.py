from __future__ import annotations

from audience.collector.proxies import TrustedProxies


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
