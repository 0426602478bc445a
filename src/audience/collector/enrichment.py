"""Server-side enrichment: what the collector adds to or corrects in every accepted message.

Pure: the time of arrival, the client address and the id factory come in as arguments.

- ``receivedAt`` is the server's clock, never the client's.
- ``timestamp`` is corrected for the client's clock skew: ``receivedAt - (sentAt - timestamp)``;
  the time the client gave is kept as ``originalTimestamp``. A result more than 23 hours
  ahead of ``receivedAt`` is clamped to ``receivedAt``.
- every time is stored in one form (UTC, milliseconds, ``Z``) within 0001-01-01T00:00:00.000Z ..
  9999-12-31T23:59:59.999Z: a valid time outside that range, as sent (``0001-01-01T00:00:00+01:00``)
  or after the skew correction, is stored as the nearest end of it. The arithmetic runs on
  integer microseconds (``audience.timestamps``), so no value can overflow.
- ids are coerced to strings and trimmed; a missing ``messageId`` is generated.
- batch-level ``context`` and ``integrations`` are merged under each message's own.
- ``context.ip`` is filled from the client address for client-side libraries (browsers,
  mobile) or ``context.direct: true``, and never replaces a ``context.ip`` already given.
- ``writeKey`` is removed: it authenticated the request and is not part of the event.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, Final

from audience.errors import ValidationError
from audience.jsontypes import JSONObject
from audience.timestamps import (
    EARLIEST_INSTANT,
    MICROSECOND,
    clamp,
    format_instant,
    instant_of,
    parse_instant,
)

FUTURE_LIMIT: Final = timedelta(hours=23)
"""Corrected timestamps further ahead than this are taken as clock errors."""

_FUTURE_LIMIT_MICROS: Final = FUTURE_LIMIT // MICROSECOND

CLIENT_SIDE_LIBRARIES: Final = frozenset(
    {
        "analytics.js",
        "analytics-next",
        "@segment/analytics-next",
        "@customerio/cdp-analytics-browser",
        "analytics-ios",
        "analytics-android",
        "analytics-kotlin",
        "analytics-swift",
        "analytics-react-native",
        "analytics-flutter",
        "cdp-analytics-ios",
        "cdp-analytics-android",
        "customerio-ios",
        "customerio-android",
        "customerio-reactnative",
        "customerio-flutter",
    }
)
"""Libraries that run on the visitor's device, whose request address is the visitor's."""


@dataclass(frozen=True)
class Arrival:
    """What the server knows about the request a message came in.

    ``sent_at`` is the batch-level ``sentAt`` as sent; messages without their own use it. The
    times every message reads are worked out once, when the arrival is made.
    """

    received_at: datetime
    client_ip: str | None = None
    sent_at: object = None
    context: Mapping[str, Any] | None = None
    integrations: Mapping[str, Any] | None = None
    received_instant: int = field(init=False, repr=False, compare=False)
    """``receivedAt`` in microseconds since the epoch (``audience.timestamps``)."""
    received_text: str = field(init=False, repr=False, compare=False)
    """``receivedAt`` as stored."""
    latest_timestamp: int = field(init=False, repr=False, compare=False)
    """The furthest ahead of ``receivedAt`` a corrected timestamp may be."""

    def __post_init__(self) -> None:
        # Plain attributes: a cached_property takes a lock on every first read.
        instant = instant_of(self.received_at)
        object.__setattr__(self, "received_instant", instant)
        object.__setattr__(self, "received_text", format_instant(instant))
        object.__setattr__(self, "latest_timestamp", instant + _FUTURE_LIMIT_MICROS)

    @cached_property
    def batch_sent_at(self) -> int | None:
        """The batch-level ``sentAt``, parsed once; ``None`` when absent or unreadable."""
        return parse_client_time(self.sent_at)

    @cached_property
    def batch_sent_text(self) -> str | None:
        """The batch-level ``sentAt`` as stored, formatted once."""
        sent_at = self.batch_sent_at
        return None if sent_at is None else format_instant(sent_at)


def parse_client_time(value: object) -> int | None:
    """A client's ISO 8601 time as an unbounded instant, naive values taken as UTC; ``None``
    when it is not a string or not ISO 8601."""
    if not isinstance(value, str):
        return None
    try:
        return parse_instant(value)
    except ValidationError:
        return None


def coerce_id(value: object) -> str | None:
    """An id as a trimmed string; ``None`` for absent or blank ids.

    Numbers become their JSON text (``42`` -> ``"42"``), as the SDKs' ``stringify_id`` does.
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
    elif isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        text = str(int(value))
    elif isinstance(value, float) and math.isfinite(value):
        text = repr(value)
    else:
        text = str(value)
    return text or None


def corrected_timestamp(received_at: int, original: int | None, sent_at: int | None) -> int:
    """``receivedAt - (sentAt - timestamp)``, or the client's time when ``sentAt`` is unknown.

    Instants in, an instant out: a result more than ``FUTURE_LIMIT`` ahead of ``receivedAt`` is
    ``receivedAt``, and the result is clamped to the representable range.
    """
    if original is None:
        return received_at
    moment = original if sent_at is None else received_at - (sent_at - original)
    if moment > received_at + _FUTURE_LIMIT_MICROS:
        return received_at
    return clamp(moment)


def is_client_side(context: Mapping[str, Any]) -> bool:
    """Whether the request address is the visitor's: a device library, or ``context.direct``."""
    if context.get("direct") is True:
        return True
    library = context.get("library")
    name = library.get("name") if isinstance(library, dict) else None
    return isinstance(name, str) and name in CLIENT_SIDE_LIBRARIES


def enrich(message: JSONObject, arrival: Arrival, new_message_id: Callable[[], str]) -> JSONObject:
    """The stored form of an already validated ``message``; the input is left unchanged."""
    enriched = dict(message)
    enriched.pop("writeKey", None)
    # The message's own context and integrations are shared, not copied, unless changed.
    own_context = message.get("context")
    context = own_context
    if arrival.context or not isinstance(context, dict):
        context = _merged(arrival.context, own_context)
    enriched["context"] = context
    integrations = message.get("integrations")
    if arrival.integrations is not None or (
        "integrations" in message and not isinstance(integrations, dict)
    ):
        enriched["integrations"] = _merged(arrival.integrations, integrations)
    enriched["userId"] = _stored_id(message.get("userId"))
    enriched["anonymousId"] = _stored_id(message.get("anonymousId"))
    if "previousId" in message:
        enriched["previousId"] = _stored_id(message["previousId"])
    if "groupId" in message:
        enriched["groupId"] = _stored_id(message["groupId"])
    enriched["messageId"] = _stored_id(message.get("messageId")) or new_message_id()
    _set_timestamps(enriched, message, arrival)
    if arrival.client_ip is not None and "ip" not in context and is_client_side(context):
        enriched["context"] = {**context, "ip": arrival.client_ip}
    return enriched


def _stored_id(value: object) -> str | None:
    """``coerce_id``, with the usual case (a string) answered first."""
    if isinstance(value, str):
        return value.strip() or None
    return coerce_id(value)


def _merged(outer: Mapping[str, Any] | None, inner: object) -> JSONObject:
    merged: JSONObject = dict(outer) if outer else {}
    if isinstance(inner, dict):
        merged.update(inner)
    return merged


def _set_timestamps(enriched: JSONObject, message: JSONObject, arrival: Arrival) -> None:
    received_text = arrival.received_text
    enriched["receivedAt"] = received_text
    original_text = message.get("timestamp") or message.get("originalTimestamp")
    own_sent_at = message.get("sentAt")
    if own_sent_at:
        sent_at = parse_client_time(own_sent_at)
        if sent_at is not None:
            enriched["sentAt"] = _stored_form(own_sent_at, sent_at)
    else:
        sent_at = arrival.batch_sent_at
        if arrival.batch_sent_text is not None:
            enriched["sentAt"] = arrival.batch_sent_text
    original = parse_client_time(original_text)
    if original is None or not isinstance(original_text, str):
        enriched["timestamp"] = enriched["originalTimestamp"] = received_text
        return
    enriched["originalTimestamp"] = _stored_form(original_text, original)
    if sent_at is None and EARLIEST_INSTANT <= original <= arrival.latest_timestamp:
        enriched["timestamp"] = enriched["originalTimestamp"]
        return
    corrected = corrected_timestamp(arrival.received_instant, original, sent_at)
    enriched["timestamp"] = format_instant(corrected)


def _stored_form(text: str, moment: int) -> str:
    """``moment`` as stored, reusing the client's text when it is already in (or near) that form.

    Browsers send ``2026-11-29T18:55:54.106Z``; the Python SDKs ``...54.106+00:00``.
    """
    length = len(text)
    if length == 24 and text[23] == "Z" and _is_stored_shape(text):
        return text
    if length == 29 and text.endswith("+00:00") and _is_stored_shape(text):
        return text[:23] + "Z"
    return format_instant(moment)


def _is_stored_shape(text: str) -> bool:
    """Whether a valid timestamp's first 23 characters are already the stored form.

    The string parsed, so these few characters decide it: a calendar date and ``T`` (not a week
    date, a space or ``t``), milliseconds, a year from 0001, and no ``24:00`` or leap second.
    """
    return (
        text[10] == "T"
        and text[7] == "-"
        and text[19] == "."
        and text[11:13] != "24"
        and text[17:19] != "60"
        and text[:4] != "0000"
    )
