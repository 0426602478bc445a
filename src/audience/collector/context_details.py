"""Details the collector derives from what a message carries, when the operator turns them on.

Off by default. With user agents on, ``context.userAgent`` is read (:mod:`user_agents`) into
``context.browser`` (``name``, ``version``), ``context.os`` (``name``, ``version``),
``context.device`` (``type``, ``manufacturer``, ``model``) and ``context.bot: true`` for a known
crawler. With a geolocation database, ``context.ip`` is placed (:mod:`geolocation`) into
``context.location`` (``city``, ``region``, ``country``, ``countryCode``, ``latitude``,
``longitude``); ``0.0.0.0``, the browser client's opt-out, is never placed. What the client sent
always wins: a field it gave (``context.os`` from a mobile library, say) is kept as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from audience.collector.geolocation import Geolocator, Location
from audience.collector.user_agents import describe
from audience.jsontypes import JSONObject


def _present(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _location_fields(location: Location) -> dict[str, Any]:
    return _present(
        {
            "city": location.city,
            "region": location.region,
            "country": location.country,
            "countryCode": location.country_code,
            "latitude": location.latitude,
            "longitude": location.longitude,
        }
    )


@lru_cache(maxsize=4096)
def _user_agent_fields(user_agent: str) -> tuple[tuple[tuple[str, Mapping[str, Any]], ...], bool]:
    """The context fields ``user_agent`` gives, and whether it is a bot: built once a string."""
    facts = describe(user_agent)
    fields: list[tuple[str, Mapping[str, Any]]] = []
    if facts.browser is not None:
        fields.append(("browser", _present(vars(facts.browser))))
    if facts.os is not None:
        fields.append(("os", _present(vars(facts.os))))
    if facts.device is not None:
        device = _present(vars(facts.device))
        if device:
            fields.append(("device", device))
    return tuple(fields), facts.bot


def _add_user_agent(context: dict[str, Any], user_agent: str) -> bool:
    """Add the fields ``user_agent`` gives where the client sent none; whether it is a bot."""
    fields, bot = _user_agent_fields(user_agent)
    for name, value in fields:
        if name not in context:
            context[name] = dict(value)
    if bot:
        context["bot"] = True
    return bot


class ContextDetails:
    """Adds the details it is configured for to a message's ``context``."""

    def __init__(self, *, user_agents: bool, geolocator: Geolocator | None = None) -> None:
        self._user_agents = user_agents
        self._geolocator = geolocator
        if user_agents:
            describe("Mozilla/5.0")  # loads the rules now rather than on the first request

    def add(self, message: JSONObject) -> bool:
        """Add details to ``message`` in place; return whether it came from a known bot.

        ``message["context"]`` is replaced by a copy, so a context shared with other messages
        of a batch is never changed.
        """
        given = message.get("context")
        context: dict[str, Any] = dict(given) if isinstance(given, dict) else {}
        bot = False
        user_agent = context.get("userAgent")
        if self._user_agents and isinstance(user_agent, str) and user_agent:
            bot = _add_user_agent(context, user_agent)
        address = context.get("ip")
        if self._geolocator is not None and isinstance(address, str) and "location" not in context:
            location = self._geolocator.locate(address)
            if location is not None:
                context["location"] = _location_fields(location)
        message["context"] = context
        return bot

    def close(self) -> None:
        """Release the geolocation database."""
        if self._geolocator is not None:
            self._geolocator.close()
