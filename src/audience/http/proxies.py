"""The one place forwarded headers are believed: the visitor's address, scheme and host.

A reverse proxy tells the collector who the visitor is (``X-Forwarded-For``), which scheme
they used (``X-Forwarded-Proto``) and which host they asked for (``X-Forwarded-Host``). Any
client can send those headers too, so they count only when the peer that sent the request is
one of the configured trusted proxies; without trusted proxies nothing forwarded is believed,
from loopback either. The tracking API's ``context.ip``, the browser settings' ``apiHost``,
the admin login's ``Secure`` cookie and its same-origin check all ask :class:`TrustedProxies`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Final

from starlette.requests import HTTPConnection

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_HOST: Final = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")
"""A host as a Host header carries it: a name or address, an optional port, nothing else."""

_DEFAULT_PORTS: Final = {"http": ":80", "https": ":443"}


@dataclass(frozen=True)
class VisitorView:
    """The request as the visitor made it: their address and the scheme and host they used."""

    address: str | None
    scheme: str
    host: str | None

    @property
    def origin(self) -> str | None:
        """``scheme://host`` as a browser writes it in ``Origin`` (no default port)."""
        if self.host is None:
            return None
        return origin_of(self.scheme, self.host)


def origin_of(scheme: str, host: str) -> str:
    """The origin a browser sends for ``scheme`` and ``host``: lowercase, without a default port."""
    scheme = scheme.lower()
    host = host.lower()
    default = _DEFAULT_PORTS.get(scheme)
    if default and host.endswith(default):
        host = host.removesuffix(default)
    return f"{scheme}://{host}"


class TrustedProxies:
    """Addresses whose forwarded headers are believed; nobody's by default."""

    def __init__(self, networks: Sequence[str] = ()) -> None:
        self._specs = tuple(networks)

    @cached_property
    def _networks(self) -> tuple[IPNetwork, ...]:
        return tuple(ipaddress.ip_network(spec, strict=False) for spec in self._specs)

    def trusts(self, address: str | None) -> bool:
        """Whether ``address`` is one of the trusted proxies."""
        if not self._specs or not address:
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

    def view(self, peer: str | None, scheme: str, headers: Mapping[str, str]) -> VisitorView:
        """The visitor's address, scheme and host, from a request's peer, scheme and headers.

        ``headers`` has lowercase names. From a trusted peer, ``X-Forwarded-Proto`` (``http``
        or ``https``) and ``X-Forwarded-Host`` replace the scheme and the ``Host`` header; a
        comma-separated value counts by its last entry, the one the nearest proxy wrote.
        """
        host = _clean_host(headers.get("host"))
        if not self.trusts(peer):
            return VisitorView(peer, scheme, host)
        address = self.client_address(peer, headers.get("x-forwarded-for"))
        forwarded_proto = _last_entry(headers.get("x-forwarded-proto")).lower()
        if forwarded_proto in ("http", "https"):
            scheme = forwarded_proto
        forwarded_host = _clean_host(_last_entry(headers.get("x-forwarded-host")))
        return VisitorView(address, scheme, forwarded_host or host)

    def view_of(self, connection: HTTPConnection) -> VisitorView:
        """``view`` of a Starlette request."""
        client = connection.client
        return self.view(client.host if client else None, connection.url.scheme, connection.headers)


def _last_entry(value: str | None) -> str:
    if not value:
        return ""
    return value.rsplit(",", 1)[-1].strip()


def _clean_host(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    return value if len(value) <= 260 and _HOST.match(value) else None


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
