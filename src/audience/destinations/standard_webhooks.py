"""The Standard Webhooks signature scheme (standardwebhooks.com), as webhooks send it. Pure.

Three headers::

    webhook-id: <the message's id, the same on every retry>
    webhook-timestamp: <Unix seconds when it was sent>
    webhook-signature: v1,<base64 of HMAC-SHA256 of "<id>.<timestamp>.<body>">

The HMAC key is the secret as the scheme serialises it: ``whsec_`` followed by base64 of the key
bytes. A secret in another form is read the way the reference libraries read it (base64 after an
optional ``whsec_``), and, when it is not base64 at all, as its UTF-8 bytes. While a secret is
being rotated, ``webhook-signature`` carries one ``v1,`` signature per secret, space-separated,
and a receiver accepts the request when any of them verifies with the secret it holds.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Final

ID_HEADER: Final = "webhook-id"
TIMESTAMP_HEADER: Final = "webhook-timestamp"
SIGNATURE_HEADER: Final = "webhook-signature"
SECRET_PREFIX: Final = "whsec_"  # noqa: S105  (the prefix of every secret, not one)
TOLERANCE: Final = 300
"""Seconds a receiver accepts between ``webhook-timestamp`` and its own clock."""


def secret_of(key: bytes) -> str:
    """The serialised form of the key bytes ``key``: ``whsec_<base64>``."""
    return SECRET_PREFIX + base64.b64encode(key).decode("ascii")


def signing_key(secret: str) -> bytes:
    """The HMAC key a secret stands for, as the Standard Webhooks libraries decode it."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "==")
    except (binascii.Error, ValueError):
        key = b""
    return key or secret.encode()


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of the request with ``secret``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_header(secrets: Sequence[str], message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: a signature per secret, the newest first."""
    return " ".join(signature(secret, message_id, timestamp, body) for secret in secrets)


def headers(secrets: Sequence[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers of a request."""
    return {
        ID_HEADER: message_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature_header(secrets, message_id, timestamp, body),
    }


def verify(
    secret: str,
    body: bytes,
    received: Mapping[str, str],
    now: float,
    tolerance: float = TOLERANCE,
) -> bool:
    """Whether a request whose headers are ``received`` was signed with ``secret`` within
    ``tolerance`` seconds of ``now`` (header names in any case)."""
    lowered = {name.lower(): value for name, value in received.items()}
    message_id = lowered.get(ID_HEADER)
    sent = lowered.get(TIMESTAMP_HEADER, "")
    offered = lowered.get(SIGNATURE_HEADER)
    if not message_id or not offered or not sent.isdigit():
        return False
    if abs(now - int(sent)) > tolerance:
        return False
    expected = signature(secret, message_id, int(sent), body)
    return any(hmac.compare_digest(expected, candidate) for candidate in offered.split(" "))
