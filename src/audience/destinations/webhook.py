"""Webhooks: batches of events POSTed to a URL, signed with HMAC-SHA256, without ``context.traits``.

The request::

    POST <url>
    Content-Type: application/json
    X-Audience-Timestamp: 1767225600
    X-Audience-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" keyed by the secret>
    X-Audience-Batch: <destination>-<batch id>      (the same on every retry of a batch)
    webhook-id: <destination>-<batch id>            (Standard Webhooks, see standard_webhooks)
    webhook-timestamp: 1767225600
    webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">

    {"batch": [<message>, ...]}

While a secret is being rotated (``previous_secret`` until ``previous_until``), both
signature headers carry the signature of the new secret and then of the old one, separated by a
space, so receivers holding either verify.

A batch whose body would pass ``max_body_bytes`` (500 KB by default) goes out in several
requests, named ``<destination>-<batch id>.1``, ``.2`` ...

Each message is the stored message without ``context.traits``: the seed says traits passed
in context "do not appear in your downstream tools". A receiver checks the signature with
``verify_signature`` (or the same HMAC in any language), rejects timestamps far from its
clock, and drops messages whose ``messageId`` it has already seen: a batch interrupted
by a restart is sent again.

What an answer means is ``audience.retry``'s rule: a 2xx answer delivers the batch; 408, 429,
5xx and network errors are retried with the destination's backoff, never sooner than a
``Retry-After`` (delay-seconds or an HTTP-date); any other status is permanent and dead-letters
the batch.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Final

import httpx
import orjson

from audience.clock import Clock
from audience.destinations import standard_webhooks
from audience.eventlog import StoredEvent
from audience.jsontypes import JSON, JSONObject
from audience.retry import classify, no_answer

SIGNATURE_HEADER: Final = "X-Audience-Signature"
TIMESTAMP_HEADER: Final = "X-Audience-Timestamp"
BATCH_HEADER: Final = "X-Audience-Batch"
MAX_BODY_BYTES: Final = 500 * 1024
"""The largest request body sent by default: what the tracking API itself accepts."""
SIGNATURE_TOLERANCE: Final = 300
"""Seconds a receiver should accept between the timestamp header and its own clock."""


def without_context_traits(message: Mapping[str, JSON]) -> JSONObject:
    """The message as downstream tools get it: ``context.traits`` removed, nothing else."""
    outgoing = dict(message)
    context = outgoing.get("context")
    if isinstance(context, Mapping) and "traits" in context:
        outgoing["context"] = {key: value for key, value in context.items() if key != "traits"}
    return outgoing


def encode_bodies(events: Sequence[StoredEvent], max_bytes: int) -> list[bytes]:
    """Request bodies for a batch, each at most ``max_bytes`` unless one event alone is larger.

    Events keep their order; a body holds as many as fit.
    """
    encoded = [orjson.dumps(without_context_traits(event.message)) for event in events]
    bodies: list[bytes] = []
    part: list[bytes] = []
    size = len(_EMPTY_BODY)
    for message in encoded:
        if part and size + len(message) + 1 > max_bytes:
            bodies.append(_body(part))
            part, size = [], len(_EMPTY_BODY)
        part.append(message)
        size += len(message) + 1
    if part:
        bodies.append(_body(part))
    return bodies


_EMPTY_BODY: Final = b'{"batch":[]}'


def _body(messages: list[bytes]) -> bytes:
    return b'{"batch":[' + b",".join(messages) + b"]}"


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
    """Whether a received request was signed with ``secret`` within ``tolerance`` seconds.

    ``signature`` may hold several space-separated signatures (during a rotation): one match
    is enough.
    """
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > tolerance:
        return False
    expected = sign(secret, sent, body)
    return any(hmac.compare_digest(expected, offered) for offered in signature.split(" "))


def signing_headers(
    secrets: Sequence[str], request_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The signature headers of one request, both schemes, a signature per secret (newest
    first): ``X-Audience-Timestamp``, ``X-Audience-Signature`` and the Standard Webhooks three."""
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: " ".join(sign(secret, timestamp, body) for secret in secrets),
        **standard_webhooks.headers(secrets, request_id, timestamp, body),
    }


class WebhookDestination:
    """A ``Destination`` that POSTs signed batches to one URL."""

    closes_when_caught_up = False

    def __init__(
        self,
        name: str,
        url: str,
        secret: str,
        clock: Clock,
        timeout: float = 10.0,
        max_body_bytes: int = MAX_BODY_BYTES,
        transport: httpx.BaseTransport | None = None,
        previous_secret: str | None = None,
        previous_until: float = 0.0,
    ) -> None:
        self._name = name
        self._url = url
        self._secret = secret
        self._previous_secret = previous_secret
        self._previous_until = previous_until
        self._clock = clock
        self._max_body_bytes = max_body_bytes
        self._client = httpx.Client(timeout=timeout, transport=transport)

    def deliver(self, events: Sequence[StoredEvent], batch_id: str) -> None:
        """POST the batch, in several requests when it is larger than ``max_body_bytes``.

        The batch is delivered when every request is; if one fails, the whole batch is sent
        again later, so a receiver may see the earlier parts twice (same ``messageId``).
        """
        bodies = encode_bodies(events, self._max_body_bytes)
        for number, body in enumerate(bodies, start=1):
            name = f"{self._name}-{batch_id}"
            self._post(body, name if len(bodies) == 1 else f"{name}.{number}")

    def _secrets(self, now: float) -> list[str]:
        """The secrets to sign with: the current one, and the previous during its overlap."""
        if self._previous_secret and now < self._previous_until:
            return [self._secret, self._previous_secret]
        return [self._secret]

    def _post(self, body: bytes, batch_name: str) -> None:
        now = self._clock.now()
        timestamp = int(now.timestamp())
        headers = {
            "Content-Type": "application/json",
            **signing_headers(self._secrets(now.timestamp()), batch_name, timestamp, body),
            BATCH_HEADER: batch_name,
            "User-Agent": "audience-webhook",
        }
        try:
            response = self._client.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise no_answer(f"cannot reach {self._url}: {exc!r}") from exc
        error = classify(response.status_code, response.headers.get("Retry-After"), now)
        if error is not None:
            raise error

    def close(self) -> None:
        self._client.close()
