"""The identity cookies of a web request: reading its ``Cookie`` headers and the attributes
the answer's ``Set-Cookie`` headers carry.

Defaults are the browser source's own (``Path=/``, one year, ``SameSite=Lax``, no ``Secure``,
``Domain`` = the registrable domain of the request host, host-only for localhost and IP
addresses), so a cookie the server sets is the very cookie the browser source reads and writes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import Final

from audience.errors import ConfigError
from audience.sdk.cookies import ONE_YEAR, SameSite
from audience.sdk.identity import ANONYMOUS_ID_KEY, GROUP_ID_KEY, USER_ID_KEY
from audience.web.domains import domain_matches, registrable_domain, request_hostname

log = logging.getLogger(__name__)

IDENTITY_COOKIES: Final = (ANONYMOUS_ID_KEY, USER_ID_KEY, GROUP_ID_KEY)
"""The cookies the browser source keeps identity in (traits live only in its localStorage)."""


class DomainChoice(Enum):
    """How the cookie domain is chosen when no fixed one is given."""

    REGISTRABLE = "registrable"


REGISTRABLE_DOMAIN: Final = DomainChoice.REGISTRABLE
"""Share the cookies over the registrable domain of each request's host (the default)."""


def read_identity_cookies(headers: Iterable[str]) -> dict[str, str]:
    """The raw values of the identity cookies in ``Cookie`` header values.

    Parsing is lenient (the browser source's raw values hold characters a strict parser
    refuses); the first occurrence of a name wins, as in the browser source's reader.
    """
    found: dict[str, str] = {}
    for header in headers:
        for part in header.split(";"):
            name, separator, value = part.strip().partition("=")
            name = name.strip()
            if separator and name in IDENTITY_COOKIES and name not in found:
                found[name] = value.strip()
    return found


def repeated_identity_cookies(headers: Iterable[str]) -> frozenset[str]:
    """The identity cookies that came more than once: a host-only copy next to the domain
    cookie (left by a browser source whose domain probe failed once), or another path."""
    seen: set[str] = set()
    repeated: set[str] = set()
    for header in headers:
        for part in header.split(";"):
            name = part.partition("=")[0].strip()
            if name in IDENTITY_COOKIES:
                (repeated if name in seen else seen).add(name)
    return frozenset(repeated)


@dataclass(frozen=True)
class CookieSettings:
    """The attributes of the identity cookies a response sets.

    ``domain``: ``REGISTRABLE_DOMAIN`` (default) for the registrable domain of the request host,
    a fixed domain (used when the request host is inside it, host-only otherwise, since a browser
    would refuse it), or ``None`` for host-only cookies.
    """

    domain: str | DomainChoice | None = REGISTRABLE_DOMAIN
    max_age: timedelta = ONE_YEAR
    path: str = "/"
    same_site: SameSite = "Lax"
    secure: bool = False

    def __post_init__(self) -> None:
        if self.same_site not in ("Lax", "Strict", "None"):
            raise ConfigError(
                f"same_site must be 'Lax', 'Strict' or 'None', not {self.same_site!r}"
            )
        if not isinstance(self.max_age, timedelta) or self.max_age.total_seconds() <= 0:
            raise ConfigError("max_age must be a positive timedelta")
        if not self.path.startswith("/"):
            raise ConfigError(f"path must start with '/', not {self.path!r}")

    def domain_for(self, host: str) -> str | None:
        """The ``Domain`` attribute for a request to ``host`` (``None``: host-only)."""
        if self.domain is REGISTRABLE_DOMAIN:
            return registrable_domain(host)
        if self.domain is None or isinstance(self.domain, DomainChoice):
            return None
        if domain_matches(host, self.domain):
            return self.domain.lstrip(".")
        log.debug(
            "request host %s is outside cookie domain %s; setting host-only cookies",
            request_hostname(host),
            self.domain,
        )
        return None
