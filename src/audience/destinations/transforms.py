"""Transformations: a function of the user's that changes, splits or drops events on their way
to one destination.

``--transform package.module:function`` names it. The dispatcher calls it with each event the
destination accepts, after the filters, as a dict of the stored message (wire field names,
its own copy), and it returns

- a dict: the event to deliver instead (the same dict changed, or a new one);
- a list of dicts: these events instead (an empty list drops it);
- ``None``: nothing (the event is dropped, and counts as delivered).

Every event returned must keep a ``type`` and a ``messageId`` (non-empty strings). Anything the
function raises, or a return value of another kind, without those, or that JSON cannot hold,
counts that one event as failed: it is dead-lettered alone with the error text and the others go on.
The function runs again on every retry and replay, so it should give the same answer for the
same event. The module is imported with the dispatcher's ``sys.path`` (install it, or put its
folder on ``PYTHONPATH``); a path that cannot be imported, or names no callable, is a
``ConfigError``.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from audience.errors import ConfigError
from audience.eventlog import StoredEvent
from audience.jsontypes import JSONObject

Transform = Callable[[JSONObject], Any]
"""The user's function: an event in; a dict, a list of dicts, or ``None`` out."""

REQUIRED_FIELDS: Final = ("type", "messageId")
"""What every event a transformation returns must keep: every destination relies on them."""

_PATH: Final = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def load_transform(path: str) -> Transform:
    """The function ``package.module:function`` names, imported now; ``ConfigError`` otherwise."""
    if not _PATH.match(path):
        raise ConfigError(f"transform {path!r} must be written package.module:function")
    module_name, _, attribute = path.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise ConfigError(
            f"transform {path!r}: cannot import {module_name}: {type(exc).__name__}: {exc}"
        ) from exc
    for name in attribute.split("."):
        try:
            target = getattr(target, name)
        except AttributeError as exc:
            raise ConfigError(f"transform {path!r}: {module_name} has no {attribute}") from exc
    if not callable(target):
        raise ConfigError(f"transform {path!r}: {attribute} is not callable")
    function: Transform = target
    return function


@dataclass(frozen=True)
class Transformed:
    """A batch after the transformation: the events to deliver, and the events that failed
    (log position -> error text)."""

    events: list[StoredEvent]
    failed: dict[int, str]


def transform_events(function: Transform, events: Sequence[StoredEvent]) -> Transformed:
    """Each event through ``function``, in order; a failure is kept with its error text."""
    out: list[StoredEvent] = []
    failed: dict[int, str] = {}
    for event in events:
        try:
            results = _results(function(orjson.loads(orjson.dumps(event.message))))
        except Exception as exc:  # noqa: BLE001  (the user's code: any error fails that event)
            failed[event.seq] = f"transform failed: {type(exc).__name__}: {exc}"
            continue
        out.extend(StoredEvent(event.seq, event.source, message) for message in results)
    return Transformed(out, failed)


def _results(returned: object) -> list[JSONObject]:
    """The events a transformation returned, as detached JSON objects."""
    if returned is None:
        return []
    items: list[object] = returned if isinstance(returned, list) else [returned]
    events: list[dict[str, object]] = [item for item in items if isinstance(item, dict)]
    if len(events) != len(items):
        raise TypeError(
            f"returned {type(returned).__name__}; expected a dict, a list of dicts or None"
        )
    for item in events:
        for field in REQUIRED_FIELDS:
            value = item.get(field)
            if not isinstance(value, str) or not value:
                raise ValueError(f"returned an event without a {field} (a non-empty string)")
    # A round trip through JSON proves each event can be sent and detaches it from the caller.
    return [orjson.loads(orjson.dumps(item)) for item in events]
