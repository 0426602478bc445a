"""Server-side enrichment: what the collector adds to or corrects in every accepted message.

Pure: the time of arrival, the client address and the id factory come in as arguments.

- ``receivedAt`` is the server's clock, never the client's.
- ``timestamp`` is corrected for the client's clock skew: ``receivedAt - (sentAt - timestamp)``;
  the time the client gave is kept as ``originalTimestamp``. A result more than 23 hours
  ahead of ``receivedAt`` is clamped to ``receivedAt``.
- ids are coerced to strings and trimmed; a missing ``messageId`` is generated.
- batch-level ``context`` and ``integrations`` are merged under each message's own.
- ``context.ip`` is filled from the client address for client-side libraries (browsers,
  mobile) or ``context.direct: true``, and never replaces a ``context.ip`` already given.
- ``writeKey`` is removed: it authenticated the request and is not part of the event.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any, Final

from audience.jsontypes import JSONObject

FUTURE_LIMIT: Final = timedelta(hours=23)
"""Corrected timestamps further ahead than this are taken as clock errors."""

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

    ``sent_at`` is the batch-level ``sentAt`` as sent; messages without their own use it.
    """

    received_at: datetime
    client_ip: str | None = None
    sent_at: object = None
    context: Mapping[str, Any] | None = None
    integrations: Mapping[str, Any] | None = None

    @cached_property
    def received_text(self) -> str:
        """``receivedAt`` as stored, computed once for every message of the request."""
        return iso_millis(self.received_at)

    @cached_property
    def latest_timestamp(self) -> datetime:
        """The furthest ahead of ``receivedAt`` a corrected timestamp may be."""
        return self.received_at + FUTURE_LIMIT

    @cached_property
    def batch_sent_at(self) -> datetime | None:
        """The batch-level ``sentAt``, parsed once."""
        return parse_client_time(self.sent_at)

    @cached_property
    def batch_sent_text(self) -> str | None:
        """The batch-level ``sentAt`` as stored, formatted once."""
        sent_at = self.batch_sent_at
        return None if sent_at is None else iso_millis(sent_at)


def iso_millis(moment: datetime) -> str:
    """The stored timestamp text: UTC, milliseconds, ``Z`` (as ``format_timestamp`` writes it)."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    # Formatting the fields directly costs about half of isoformat(timespec="milliseconds").
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (  # noqa: UP031
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond // 1000,
    )


def parse_client_time(value: object) -> datetime | None:
    """A client's ISO 8601 time, naive values taken as UTC; ``None`` when unreadable."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


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


def corrected_timestamp(
    received_at: datetime, original: datetime | None, sent_at: datetime | None
) -> datetime:
    """``receivedAt - (sentAt - timestamp)``, or the client's time when ``sentAt`` is unknown."""
    if original is None:
        return received_at
    moment = original if sent_at is None else received_at - (sent_at - original)
    if moment > received_at + FUTURE_LIMIT:
        return received_at
    return moment


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
    received_at = arrival.received_at
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
    if sent_at is None and original <= arrival.latest_timestamp:
        enriched["timestamp"] = enriched["originalTimestamp"]
        return
    enriched["timestamp"] = iso_millis(corrected_timestamp(received_at, original, sent_at))


def _stored_form(text: str, moment: datetime) -> str:
    """``moment`` as stored, reusing the client's text when it is already in (or near) that form.

    Browsers send ``2026-11-29T18:55:54.106Z``; the Python SDKs ``...54.106+00:00``.
    """
    if len(text) == 24 and text[23] == "Z" and text[19] == ".":
        return text
    if len(text) == 29 and text[19] == "." and text.endswith("+00:00"):
        return text[:23] + "Z"
    return iso_millis(moment)
