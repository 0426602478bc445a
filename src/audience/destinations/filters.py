"""Filters: which events a destination receives, by source, type and event name. Pure.

Each rule is a set of names, empty when not given. An event passes when

- its source is among ``only_sources`` (when given) and not among ``except_sources``;
- its ``type`` is among ``only_types`` (when given) and not among ``except_types``;
- it is not a ``track``, or its ``event`` is among ``only_events`` (when given) and not among
  ``except_events``: the event-name rules choose among tracks and leave the other types alone.

An event that does not pass is skipped: the destination's cursor moves past it as if it had
been delivered, and it is never pending.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Final

from audience.errors import ConfigError
from audience.jsontypes import JSON, JSONObject
from audience.tracking import MESSAGE_TYPES


@dataclass(frozen=True)
class EventFilter:
    """The include and exclude rules of one destination (empty: every event passes)."""

    only_sources: frozenset[str] = frozenset()
    except_sources: frozenset[str] = frozenset()
    only_types: frozenset[str] = frozenset()
    except_types: frozenset[str] = frozenset()
    only_events: frozenset[str] = frozenset()
    except_events: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        for name in ("only_types", "except_types"):
            unknown = sorted(set(getattr(self, name)) - set(MESSAGE_TYPES))
            if unknown:
                raise ConfigError(
                    f"{name}: {', '.join(unknown)} is not a message type "
                    f"({', '.join(MESSAGE_TYPES)})"
                )
        for name in _RULES:
            if any(not isinstance(value, str) or not value for value in getattr(self, name)):
                raise ConfigError(f"{name}: every name must be a non-empty string")

    @classmethod
    def of(cls, **rules: Iterable[str]) -> EventFilter:
        """A filter from any iterables of names (``EventFilter.of(only_types=["track"])``)."""
        return cls(**{name: frozenset(values) for name, values in rules.items()})

    @property
    def empty(self) -> bool:
        """Whether every event passes."""
        return not any(getattr(self, name) for name in _RULES)

    def accepts(self, source: str, message: Mapping[str, JSON]) -> bool:
        """Whether the event ``message`` of ``source`` passes every rule."""
        if not _passes(source, self.only_sources, self.except_sources):
            return False
        kind = message.get("type")
        if not _passes(kind, self.only_types, self.except_types):
            return False
        if kind != "track":
            return True
        return _passes(message.get("event"), self.only_events, self.except_events)

    def to_json(self) -> JSONObject:
        """The rules given, each as a sorted list (no key for a rule not given)."""
        return {name: sorted(getattr(self, name)) for name in _RULES if getattr(self, name)}

    @classmethod
    def from_json(cls, data: Mapping[str, JSON] | None) -> EventFilter:
        """The filter ``to_json`` wrote; unknown keys are a ``ConfigError``."""
        if not data:
            return cls()
        unknown = sorted(set(data) - set(_RULES))
        if unknown:
            raise ConfigError(f"unknown filter rule(s): {', '.join(unknown)}")
        for name, values in data.items():
            if not isinstance(values, list):
                raise ConfigError(f"{name}: must be a list of names")
        return cls(**{name: frozenset(values) for name, values in data.items()})


_RULES: Final[tuple[str, ...]] = tuple(field.name for field in fields(EventFilter))


def _passes(value: JSON, only: frozenset[str], excluded: frozenset[str]) -> bool:
    if only and value not in only:
        return False
    return value not in excluded
