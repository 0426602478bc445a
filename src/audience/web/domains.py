"""The cookie domain of a request host: its registrable domain (eTLD+1) from the Public Suffix List.

This is the domain the browser source's ``tld()`` probe finds by trial (browsers refuse cookies
for public suffixes), computed once from the list instead: ``www.example.com`` gives
``example.com``, ``a.b.example.co.uk`` gives ``example.co.uk``, ``myapp.herokuapp.com`` stays
``myapp.herokuapp.com`` (a private suffix). Localhost, single-label hosts, IP addresses and
public suffixes themselves get host-only cookies (``None``). The list ships inside the
``publicsuffixlist`` package: nothing is fetched from the network.
"""

from __future__ import annotations

import ipaddress
from functools import cache, lru_cache

from publicsuffixlist import PublicSuffixList


@cache
def _suffix_list() -> PublicSuffixList:
    return PublicSuffixList()


def load_suffix_list() -> None:
    """Parse the Public Suffix List now (a tenth of a second) rather than in the first request."""
    _suffix_list()


def request_hostname(host: str) -> str:
    """The host name of a ``Host`` header value: port dropped, brackets of an IPv6 address
    removed, lowercased, without a trailing dot."""
    text = host.strip().lower()
    if text.startswith("["):
        return text[1:].partition("]")[0]
    if text.count(":") == 1:
        text = text.partition(":")[0]
    return text.rstrip(".")


def is_ip_address(hostname: str) -> bool:
    """Whether ``hostname`` is an IPv4 or IPv6 address."""
    try:
        ipaddress.ip_address(hostname)
    except ValueError:
        return False
    return True


def registrable_domain(hostname: str) -> str | None:
    """The registrable domain ``hostname`` shares cookies over, or ``None`` for host-only."""
    return _registrable_domain(request_hostname(hostname))


@lru_cache(maxsize=1024)
def _registrable_domain(name: str) -> str | None:
    """Memoized per host name: a site answers for a handful, and ``Host`` headers are bounded
    by the cache size whatever clients send."""
    if not name or "." not in name or is_ip_address(name):
        return None
    domain: str | None = _suffix_list().privatesuffix(name)
    return domain


def domain_matches(hostname: str, domain: str) -> bool:
    """Whether a browser accepts a cookie for ``domain`` from ``hostname`` (RFC 6265 5.1.3)."""
    name = request_hostname(hostname)
    wanted = domain.lower().lstrip(".").rstrip(".")
    return name == wanted or (name.endswith("." + wanted) and not is_ip_address(name))
