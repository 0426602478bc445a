"""Relays: committed events forwarded to another tracking API, as a Segment-compatible source.

The request::

    POST <url>                                   (a tracking API's /v1/batch)
    Authorization: Basic <base64 of "<write key>:">
    Content-Type: application/json
    Content-Encoding: gzip

    {"batch": [<message>, ...]}

Each message is the stored one, ``messageId`` and ``context.traits`` included, without the two
fields the receiver sets itself: ``receivedAt`` (its own clock) and ``sentAt``. The stored
``timestamp`` is already corrected for the client's clock, so sending the client's ``sentAt``
again would make the receiver correct it a second time by the time the event waited here; with
no ``sentAt`` a tracking API keeps ``timestamp`` as it is. The receiver is a pipeline that
applies the seed's rule about ``context.traits`` itself, so it gets them unchanged (a webhook,
a downstream tool, gets them removed).

**Limits.** Every request stays under the smaller of the limits of the receivers relayed to:
Segment and Customer.io accept 500 KB per batch and 32 KB per event (audience's own collector
8.5 MiB per request and 32 KB per event). A body is closed before it passes ``max_batch_bytes``
(475,000 bytes, leaving room for what a receiver adds to the envelope), and an event over
``max_event_bytes`` (32 KB) is refused here, alone, without being sent.

**Answers** follow ``audience.retry``: 2xx delivers; 408, 429, 5xx and network errors retry the
whole batch with the destination's backoff, never sooner than a ``Retry-After``; the receiver
drops what it already has by ``messageId``. A 400, 413 or 422 may be about some events only: the
request is split in halves, and the halves again, until each refused event is alone; those are
refused (``RefusedEventsError``) and the others delivered. Any other 4xx (a wrong write key)
dead-letters the batch.
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

import httpx
import orjson

from audience.clock import Clock
from audience.errors import ConfigError, DeliveryError, RefusedEventsError
from audience.eventlog import StoredEvent
from audience.jsontypes import JSON, JSONObject
from audience.retry import classify, no_answer, splittable

MAX_EVENT_BYTES: Final = 32 * 1024
"""The largest event relayed: Segment's, Customer.io's and the collector's limit per event."""
MAX_BATCH_BYTES: Final = 475_000
"""The largest body sent: under the 500 KB per batch of Segment and Customer.io."""

PRESETS: Final[Mapping[str, str]] = {
    "segment": "https://api.segment.io/v1/batch",
    "customerio-us": "https://cdp.customer.io/v1/batch",
    "customerio-eu": "https://cdp-eu.customer.io/v1/batch",
}
"""Receivers known by name: their batch endpoints."""
RUDDERSTACK: Final = "rudderstack:"
"""``rudderstack:<data plane URL>``: RudderStack's batch endpoint on that data plane."""
BATCH_PATH: Final = "/v1/batch"
SET_BY_RECEIVER: Final = frozenset({"receivedAt", "sentAt"})
"""Fields left out of a relayed message: the receiver sets them itself."""


def relay_url(target: str) -> str:
    """The batch endpoint ``target`` names: a preset (``segment``, ``customerio-us``,
    ``customerio-eu``, ``rudderstack:<data plane URL>``), or an http(s) URL, used as it is when
    its path ends in ``/v1/batch`` and as a collector's root otherwise."""
    if target in PRESETS:
        return PRESETS[target]
    if target.startswith(RUDDERSTACK):
        plane = target.removeprefix(RUDDERSTACK)
        if not plane:
            raise ConfigError("--relay rudderstack: needs the data plane URL after the colon")
        return relay_url(plane)
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        names = ", ".join([*PRESETS, "rudderstack:<data plane URL>"])
        raise ConfigError(f"relay {target!r} is neither an http(s) URL nor one of {names}")
    if parts.path.rstrip("/").endswith(BATCH_PATH):
        return target
    return target.rstrip("/") + BATCH_PATH


def relayed(message: Mapping[str, JSON]) -> JSONObject:
    """The message as the receiving tracking API gets it: without ``receivedAt``, ``sentAt``."""
    return {key: value for key, value in message.items() if key not in SET_BY_RECEIVER}


@dataclass(frozen=True)
class Encoded:
    """One event ready to relay: its log position and its JSON bytes."""

    seq: int
    body: bytes


def encode_events(
    events: Sequence[StoredEvent], max_event_bytes: int = MAX_EVENT_BYTES
) -> tuple[list[Encoded], dict[int, str]]:
    """The events to send, in order, and the refused ones (too large) with the reason."""
    encoded: list[Encoded] = []
    refused: dict[int, str] = {}
    for event in events:
        body = orjson.dumps(relayed(event.message))
        if len(body) > max_event_bytes:
            refused[event.seq] = (
                f"is {len(body)} bytes, over the {max_event_bytes} a tracking API takes per event"
            )
        else:
            encoded.append(Encoded(event.seq, body))
    return encoded, refused


def cut_requests(encoded: Sequence[Encoded], max_batch_bytes: int) -> list[list[Encoded]]:
    """The events in requests whose body stays within ``max_batch_bytes``, in order."""
    requests: list[list[Encoded]] = []
    part: list[Encoded] = []
    size = len(_EMPTY_BODY)
    for event in encoded:
        if part and size + len(event.body) + 1 > max_batch_bytes:
            requests.append(part)
            part, size = [], len(_EMPTY_BODY)
        part.append(event)
        size += len(event.body) + 1
    if part:
        requests.append(part)
    return requests


_EMPTY_BODY: Final = b'{"batch":[]}'


def batch_body(part: Sequence[Encoded]) -> bytes:
    """The JSON body of one request."""
    return b'{"batch":[' + b",".join(event.body for event in part) + b"]}"


class RelayDestination:
    """A ``Destination`` that forwards batches to a tracking API with its own write key."""

    closes_when_caught_up = False

    def __init__(
        self,
        url: str,
        write_key: str,
        clock: Clock,
        timeout: float = 10.0,
        max_batch_bytes: int = MAX_BATCH_BYTES,
        max_event_bytes: int = MAX_EVENT_BYTES,
        compress: bool = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._url = url
        self._clock = clock
        self._max_batch_bytes = max_batch_bytes
        self._max_event_bytes = max_event_bytes
        self._compress = compress
        self._client = httpx.Client(
            timeout=timeout, transport=transport, auth=httpx.BasicAuth(write_key, "")
        )

    def deliver(self, events: Sequence[StoredEvent], batch_id: str) -> None:
        """Send every event; raise ``RefusedEventsError`` after the others when some are refused.

        A retryable failure raises at once: the whole batch is sent again later, and the
        receiver drops the events it already has by ``messageId``.
        """
        encoded, refused = encode_events(events, self._max_event_bytes)
        for part in cut_requests(encoded, self._max_batch_bytes):
            self._send(part, refused)
        if refused:
            raise RefusedEventsError(refused)

    def _send(self, part: Sequence[Encoded], refused: dict[int, str]) -> None:
        error = self._post(batch_body(part))
        if error is None:
            return
        if not splittable(error):
            raise error
        if len(part) == 1:
            refused[part[0].seq] = str(error)
            return
        middle = len(part) // 2
        self._send(part[:middle], refused)
        self._send(part[middle:], refused)

    def _post(self, body: bytes) -> DeliveryError | None:
        headers = {"Content-Type": "application/json", "User-Agent": "audience-relay"}
        if self._compress:
            body = gzip.compress(body, compresslevel=6)
            headers["Content-Encoding"] = "gzip"
        try:
            response = self._client.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return no_answer(f"cannot reach {self._url}: {exc!r}")
        return classify(
            response.status_code,
            response.headers.get("Retry-After"),
            self._clock.now(),
            receiver=self._url,
        )

    def close(self) -> None:
        self._client.close()
