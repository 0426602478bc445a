"""Slowing down admin token guesses, per client address.

The rule, for each client address (an IPv4 address, or the /64 an IPv6 address belongs to,
since one host is handed a whole /64): the first ``FREE_FAILURES`` wrong tokens cost nothing.
Each wrong token after that locks the address for ``FIRST_LOCK_SECONDS``, doubling with each
further failure up to ``MAX_LOCK_SECONDS``; while locked, every attempt from the address is
answered 429 with ``Retry-After`` and its token is not even compared (so guessing during the
lock learns nothing) and does not count. A right token clears the address's record, and an
address that has not failed for ``FORGET_AFTER_SECONDS`` starts afresh.

Only the guessing address is slowed: an attacker elsewhere cannot lock the admin out, and even
from the admin's own address (a shared NAT) the lock lasts at most ``MAX_LOCK_SECONDS``. At
most ``MAX_TRACKED`` addresses are remembered; past that the quietest are forgotten. Each
collector process keeps its own records, so with ``--workers N`` an address gets up to N times
the free failures; the 32-character token, not the throttle, is what makes guessing hopeless.
"""

from __future__ import annotations

import ipaddress
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

from audience.clock import Clock

FREE_FAILURES: Final = 5
FIRST_LOCK_SECONDS: Final = 5.0
MAX_LOCK_SECONDS: Final = 600.0
FORGET_AFTER_SECONDS: Final = 900.0
MAX_TRACKED: Final = 10_000


@dataclass
class _Record:
    failures: int
    last_failure: float
    locked_until: float


def throttle_key(address: str | None) -> str:
    """The unit that is throttled: the IPv4 address, or the IPv6 address's /64."""
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def lock_seconds(failures: int) -> float:
    """How long an address is locked after its ``failures``-th wrong token in a row."""
    if failures < FREE_FAILURES:
        return 0.0
    doublings = min(failures - FREE_FAILURES, 30)  # far past the cap, and no float overflow
    return min(FIRST_LOCK_SECONDS * 2.0**doublings, MAX_LOCK_SECONDS)


class LoginThrottle:
    """Remembers wrong admin tokens per address and says how long an address must wait."""

    def __init__(self, clock: Clock, max_tracked: int = MAX_TRACKED) -> None:
        self._clock = clock
        self._max_tracked = max_tracked
        self._records: OrderedDict[str, _Record] = OrderedDict()
        self._lock = threading.Lock()

    def wait_seconds(self, address: str | None) -> int:
        """Whole seconds ``address`` must still wait before it may try a token; 0 when it may."""
        now = self._clock.monotonic()
        with self._lock:
            record = self._records.get(throttle_key(address))
            if record is None or record.locked_until <= now:
                return 0
            return max(1, math.ceil(record.locked_until - now))

    def failed(self, address: str | None) -> int:
        """Count a wrong token from ``address``; returns the seconds it is now locked for."""
        now = self._clock.monotonic()
        key = throttle_key(address)
        with self._lock:
            record = self._records.pop(key, None)
            if record is None or now - record.last_failure >= FORGET_AFTER_SECONDS:
                record = _Record(failures=0, last_failure=now, locked_until=now)
            record.failures += 1
            record.last_failure = now
            lock = lock_seconds(record.failures)
            record.locked_until = now + lock
            self._records[key] = record  # the most recent failure goes last
            while len(self._records) > self._max_tracked:
                self._records.popitem(last=False)
        return math.ceil(lock)

    def succeeded(self, address: str | None) -> None:
        """A right token from ``address``: forget its failures."""
        with self._lock:
            self._records.pop(throttle_key(address), None)
