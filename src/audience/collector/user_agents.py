"""What a user agent string says: the browser, the operating system, the device, and bots.

The rules are ua-parser's (the maintained uap-core regexes). Strings repeat (a site's visitors run a
few hundred browsers), so each answer is cached; only the first ``MAX_PARSED`` characters are read,
so a hostile string costs no more than a long real one.

The device type is derived: ``bot`` for a known crawler or monitor (ua-parser's ``Spider``
device), ``tablet`` for iPads and devices named tablets, ``mobile`` for phones and other mobile
operating systems, ``desktop`` for the desktop systems, and left out when the string does not say.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from ua_parser import parse

MAX_PARSED: Final = 512
"""Characters of a user agent that are parsed; real ones are under 300."""

_MOBILE_SYSTEMS: Final = frozenset(
    ["Android", "iOS", "Windows Phone", "BlackBerry OS", "KaiOS", "Firefox OS", "Tizen"]
)
_DESKTOP_SYSTEMS: Final = frozenset(
    ["Windows", "Mac OS X", "macOS", "Linux", "Ubuntu", "Fedora", "Chrome OS", "FreeBSD"]
)


@dataclass(frozen=True)
class Named:
    """A browser or operating system: its family and version (``"120.0.1"``, or ``None``)."""

    name: str
    version: str | None


@dataclass(frozen=True)
class Device:
    """The device a user agent names; any part may be unknown."""

    type: str | None
    manufacturer: str | None
    model: str | None


@dataclass(frozen=True)
class UserAgentFacts:
    """Everything read from one user agent string."""

    browser: Named | None
    os: Named | None
    device: Device | None
    bot: bool


def _version(*parts: str | None) -> str | None:
    known = [part for part in parts if part]
    return ".".join(known) if known else None


def _device_type(device_family: str | None, system: str | None, text: str) -> str | None:
    if device_family == "Spider":
        return "bot"
    if device_family and ("iPad" in device_family or "Tablet" in device_family):
        return "tablet"
    if system in _MOBILE_SYSTEMS or "Mobile" in text:
        return "mobile"
    if system in _DESKTOP_SYSTEMS:
        return "desktop"
    return None


@lru_cache(maxsize=4096)
def describe(user_agent: str) -> UserAgentFacts:
    """The facts of ``user_agent`` (an empty or unknown string gives all ``None``)."""
    text = user_agent[:MAX_PARSED]
    result = parse(text)
    agent, system, found = result.user_agent, result.os, result.device
    browser = None
    if agent is not None and agent.family != "Other":
        browser = Named(agent.family, _version(agent.major, agent.minor, agent.patch))
    os_named = None
    if system is not None and system.family != "Other":
        os_named = Named(system.family, _version(system.major, system.minor, system.patch))
    device_family = found.family if found is not None and found.family != "Other" else None
    kind = _device_type(device_family, os_named.name if os_named else None, text)
    device = None
    if kind == "bot":
        device = Device(kind, None, None)
    elif kind is not None or device_family is not None:
        brand = found.brand if found is not None else None
        model = found.model if found is not None else None
        device = Device(kind, brand, model)
    return UserAgentFacts(browser, os_named, device, kind == "bot")
