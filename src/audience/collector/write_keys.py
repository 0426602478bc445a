"""Write keys: which source a tracking request belongs to.

Write keys arrive as HTTP Basic (the key as user name, with or without the colon),
``Authorization: Bearer <key>``, ``writeKey`` in the body, or ``?writeKey=``, in that order
of precedence.
"""

from __future__ import annotations

import base64
import binascii

from audience.errors import AuthenticationError
from audience.storage.base import Source, SourceRegistry


def write_key_from_authorization(header: str | None) -> str | None:
    """The write key carried by a Basic or Bearer ``Authorization`` header, if any."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value or None
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise AuthenticationError("the Basic credentials are not base64 text") from None
    user = decoded.partition(":")[0]
    return user or None


def write_key_from_body(body: object) -> str | None:
    """The ``writeKey`` field of a JSON body, if it is a non-empty string."""
    if isinstance(body, dict):
        key = body.get("writeKey")
        if isinstance(key, str) and key:
            return key
    return None


class SourceResolver:
    """Finds the source of a write key, remembering the ones it has seen.

    Sources are never renamed or deleted while the collector runs, so a key once found
    stays valid; unknown keys are looked up each time, so a source created by
    ``audience sources create`` is accepted at once.
    """

    def __init__(self, registry: SourceRegistry) -> None:
        self._registry = registry
        self._known: dict[str, Source] = {}

    def resolve(self, write_key: str | None) -> Source:
        """The source of ``write_key``; raises ``AuthenticationError`` when there is none."""
        if not write_key:
            raise AuthenticationError("no write key: use Basic auth, Bearer or writeKey")
        source = self._known.get(write_key)
        if source is not None:
            return source
        if len(write_key) > 200 or "\x00" in write_key:  # no store holds such a key
            raise AuthenticationError("unknown write key")
        source = self._registry.source_by_key(write_key)
        if source is None:
            raise AuthenticationError("unknown write key")
        self._known[write_key] = source
        return source
