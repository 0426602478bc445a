"""Building one message from a call: the options rules, validation, and its JSON bytes.

Pure: identity, time and ids come in as arguments. A message is serialized once, here, at the
call site; what leaves this module is either the finished bytes or a ``ValidationError`` naming
the argument at fault, so nothing half-built is ever queued.

Options follow the browser source: ``anonymousId``, ``userId``, ``timestamp`` and
``integrations`` override the message's own fields (``anonymousId`` also persists: the caller
handles that); ``context`` is the start of the message's context; every other key is copied into
``context`` (so ``options.traits`` becomes ``context.traits`` of that one message).
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final

import orjson

from audience.errors import ValidationError
from audience.jsontypes import JSON, JSONObject
from audience.timestamps import (
    RANGE_TEXT,
    format_instant,
    format_utc,
    instant_of,
    is_representable,
    parse_instant,
)
from audience.tracking import MAX_EVENT_BYTES, MessageType, format_timestamp

OVERRIDE_KEYS: Final = frozenset({"anonymousId", "userId", "timestamp", "integrations", "context"})
_ORJSON_OPTIONS: Final = orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z


def library_context(version: str) -> JSONObject:
    """``context.library`` of every message this SDK sends."""
    return {"name": "audience-python", "version": version}


@dataclass(frozen=True)
class Options:
    """The per-call options object, read and checked."""

    anonymous_id: str | None = None
    user_id: str | None = None
    timestamp: str | None = None
    integrations: JSONObject | None = None
    context: JSONObject | None = None


NO_OPTIONS: Final = Options()


def read_options(options: Mapping[str, JSON] | None) -> Options:
    """Check an options mapping and sort its keys into overrides and context."""
    if options is None:
        return NO_OPTIONS
    if not isinstance(options, Mapping):
        raise ValidationError("options", f"must be a mapping, not {type(options).__name__}")
    context: JSONObject | None = None
    given_context = options.get("context")
    if given_context is not None:
        context = dict(require_mapping("options.context", given_context))
    for key, value in options.items():
        if key in OVERRIDE_KEYS:
            continue
        if not isinstance(key, str):
            raise ValidationError("options", f"has a key that is not a string: {key!r}")
        if key == "traits":
            require_mapping("options.traits", value)
        if context is None:
            context = {}
        context[key] = value
    integrations = options.get("integrations")
    return Options(
        anonymous_id=optional_id("options.anonymousId", options.get("anonymousId")),
        user_id=optional_id("options.userId", options.get("userId")),
        timestamp=optional_timestamp("options.timestamp", options.get("timestamp")),
        integrations=None
        if integrations is None
        else dict(require_mapping("options.integrations", integrations)),
        context=context,
    )


def require_mapping(name: str, value: object) -> Mapping[str, JSON]:
    """``value`` if it is a mapping, else a ``ValidationError`` naming ``name``."""
    if not isinstance(value, Mapping):
        raise ValidationError(name, f"must be a mapping, not {type(value).__name__}")
    return value


def optional_mapping(name: str, value: object) -> Mapping[str, JSON]:
    """``value`` as a mapping, ``{}`` for ``None``."""
    if type(value) is dict:
        return value
    return {} if value is None else require_mapping(name, value)


def optional_id(name: str, value: object) -> str | None:
    """An id argument: a string (``""`` counts as none) or a number taken as its text."""
    if value is None or isinstance(value, str):
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ValidationError(name, f"must be a string, not {type(value).__name__}")


def optional_text(name: str, value: object) -> str | None:
    """A name or category argument: a string or ``None``."""
    if value is None or isinstance(value, str):
        return value
    raise ValidationError(name, f"must be a string, not {type(value).__name__}")


def optional_timestamp(name: str, value: object) -> str | None:
    """A timestamp override: a datetime (naive means UTC) or an ISO 8601 string, within
    0001-01-01T00:00:00.000Z .. 9999-12-31T23:59:59.999Z once in UTC.

    The collector would store a time outside that range as the nearest end of it; here the
    caller learns at once that the value is wrong.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        instant = instant_of(value)
    elif isinstance(value, str):
        instant = parse_instant(value, name)
    else:
        raise ValidationError(
            name, f"must be a datetime or an ISO 8601 string, not {type(value).__name__}"
        )
    if not is_representable(instant):
        raise ValidationError(name, f"is outside {RANGE_TEXT} once in UTC")
    return format_instant(instant)


_MILLISECONDS: Final = tuple(f"{ms:03d}Z" for ms in range(1000))


class TimestampFormatter:
    """``format_timestamp`` for the current time, reusing the text up to the second.

    Every message is stamped; formatting the date part once a second keeps that cheap.
    """

    def __init__(self) -> None:
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        self._second: tuple[datetime, datetime, str] = (epoch, epoch, "")

    def __call__(self, moment: datetime) -> str:
        if moment.tzinfo is not UTC:
            return format_timestamp(moment)
        start, end, prefix = self._second
        if not start <= moment < end:
            start = moment.replace(microsecond=0)
            end = start + timedelta(seconds=1)
            prefix = format_utc(start)[:20]
            self._second = (start, end, prefix)
        return prefix + _MILLISECONDS[moment.microsecond // 1000]


def build_message(
    kind: MessageType,
    fields: JSONObject,
    *,
    anonymous_id: str | None,
    user_id: str | None,
    timestamp: str,
    message_id: str,
    library: JSONObject,
    options: Options = NO_OPTIONS,
) -> JSONObject:
    """One message in the wire shape of the real clients, with the options applied."""
    context = options.context
    if context is None:
        context = {"library": library}
    elif "library" not in context:
        context["library"] = library
    return {
        "type": kind,
        **fields,
        "anonymousId": options.anonymous_id or anonymous_id,
        "userId": options.user_id or user_id,
        "timestamp": options.timestamp or timestamp,
        "context": context,
        "integrations": {} if options.integrations is None else options.integrations,
        "messageId": message_id,
    }


def _default(value: object) -> JSON:
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, set | frozenset):
        return list(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def encode_json(value: JSON) -> bytes:
    """JSON bytes as the SDK sends them (datetimes as ISO 8601 UTC, Decimals as numbers)."""
    return orjson.dumps(value, default=_default, option=_ORJSON_OPTIONS)


def encode_message(message: JSONObject, arguments: Sequence[tuple[str, object]]) -> bytes:
    """The message's JSON bytes, or a ``ValidationError`` naming the argument at fault.

    ``arguments`` pairs each caller-supplied argument's name with its value; they are examined only
    when the message cannot be encoded or is over the 32 KB limit.
    """
    try:
        body = orjson.dumps(message, default=_default, option=_ORJSON_OPTIONS)
    except TypeError as exc:
        raise ValidationError(
            _culprit(arguments), f"holds a value JSON cannot hold ({exc})"
        ) from exc
    if len(body) > MAX_EVENT_BYTES:
        raise ValidationError(
            _largest(arguments),
            f"makes the event {len(body)} bytes, over the {MAX_EVENT_BYTES}-byte limit",
        )
    return body


def _culprit(arguments: Sequence[tuple[str, object]]) -> str:
    for name, value in arguments:
        try:
            encode_json(value)
        except TypeError:
            return name
    return "options"


def _largest(arguments: Sequence[tuple[str, object]]) -> str:
    sizes = {}
    for name, value in arguments:
        try:
            sizes[name] = len(encode_json(value))
        except TypeError:
            sizes[name] = 0
    return max(sizes, key=lambda name: sizes[name]) if sizes else "event"
