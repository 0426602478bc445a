"""Webhooks: batches of events POSTed to a URL, signed with HMAC-SHA256, without ``context.traits``.

The request::

    POST <url>
    Content-Type: application/json
    X-Audience-Timestamp: 1767225600
    X-Audience-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" keyed by the secret>
    X-Audience-Batch: <destination>-<batch id>      (the same on every retry of a batch)

    {"batch": [<message>, ...]}

Each message is the stored message without ``context.traits``: the seed says traits passed
in context "do not appear in your downstream tools". A receiver checks the signature with
``verify_signature`` (or the same HMAC in any language), rejects timestamps far from its
clock, and drops messages whose ``messageId`` it has already seen: a batch interrupted
by a restart is sent again.

A 2xx answer delivers the batch. 408, 429, 5xx and network errors are retried with backoff
(honouring ``Retry-After``); any other status is permanent and dead-letters the batch.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Final

import httpx
import orjson

from audience.clock import Clock
from audience.errors import DeliveryError, PermanentDeliveryError, RetryableDeliveryError
from audience.eventlog import StoredEvent
from audience.jsontypes import JSON, JSONObject

SIGNATURE_HEADER: Final = "X-Audience-Signature"
TIMESTAMP_HEADER: Final = "X-Audience-Timestamp"
BATCH_HEADER: Final = "X-Audience-Batch"
SIGNATURE_TOLERANCE: Final = 300
"""Seconds a receiver should accept between the timestamp header and its own clock."""


def without_context_traits(message: Mapping[str, JSON]) -> JSONObject:
    """The message as downstream tools get it: ``context.traits`` removed, nothing else."""
    outgoing = dict(message)
    context = outgoing.get("context")
    if isinstance(context, Mapping) and "traits" in context:
        outgoing["context"] = {key: value for key, value in context.items() if key != "traits"}
    return outgoing


def encode_batch(events: Sequence[StoredEvent]) -> bytes:
    """The request body for a batch of stored events."""
    return orjson.dumps({"batch": [without_context_traits(event.message) for event in events]})


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value: ``sha256=`` and the HMAC of ``"<timestamp>." + body``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify_signature(
    secret: str,
    body: bytes,
    timestamp: str,
    signature: str,
    now: float,
    tolerance: float = SIGNATURE_TOLERANCE,
) -> bool:
    """Whether a received request was signed with ``secret`` within ``tolerance`` seconds."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, sent, body), signature)


def classify(status: int, retry_after: str | None) -> DeliveryError | None:
    """``None`` for a 2xx; otherwise the error that decides whether to try again."""
    if 200 <= status < 300:
        return None
    if status in (408, 429) or status >= 500:
        return RetryableDeliveryError(
            f"the receiver answered {status}", status, _seconds(retry_after)
        )
    return PermanentDeliveryError(f"the receiver answered {status}", status)


def _seconds(retry_after: str | None) -> float | None:
    if retry_after is None:
        return None
    try:
        return max(0.0, float(retry_after))
    except ValueError:
        return None


class WebhookDestination:
    """A ``Destination`` that POSTs signed batches to one URL."""

    def __init__(
        self,
        name: str,
        url: str,
        secret: str,
        clock: Clock,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._name = name
        self._url = url
        self._secret = secret
        self._clock = clock
        self._client = httpx.Client(timeout=timeout, transport=transport)

    def deliver(self, events: Sequence[StoredEvent], batch_id: str) -> None:
        body = encode_batch(events)
        timestamp = int(self._clock.now().timestamp())
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
            BATCH_HEADER: f"{self._name}-{batch_id}",
            "User-Agent": "audience-webhook",
        }
        try:
            response = self._client.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise RetryableDeliveryError(f"cannot reach {self._url}: {exc!r}") from exc
        error = classify(response.status_code, response.headers.get("Retry-After"))
        if error is not None:
            raise error

    def close(self) -> None:
        self._client.close()
