"""The client's address: the peer, or the X-Forwarded-For hop just before the trusted proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import cached_property

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """Addresses whose ``X-Forwarded-For`` header is believed; nobody's by default."""

    def __init__(self, networks: Sequence[str] = ()) -> None:
        self._specs = tuple(networks)

    @cached_property
    def _networks(self) -> tuple[IPNetwork, ...]:
        return tuple(ipaddress.ip_network(spec, strict=False) for spec in self._specs)

    def trusts(self, address: str) -> bool:
        """Whether ``address`` is one of the trusted proxies."""
        if not self._specs:
            return False
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        return any(ip in network for network in self._networks)

    def client_address(self, peer: str | None, forwarded_for: str | None) -> str | None:
        """The visitor's address.

        The peer, unless it is a trusted proxy: then the right-most ``X-Forwarded-For``
        entry that is not itself a trusted proxy (entries further left are written by
        the client and cannot be believed).
        """
        if peer is None or not forwarded_for or not self.trusts(peer):
            return peer
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self.trusts(hop):
                return hop if _is_address(hop) else peer
        return hops[0] if hops else peer


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
