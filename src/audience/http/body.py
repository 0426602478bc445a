"""Request bodies: read at most the limit, inflate gzip or deflate with a streaming cap.

A body is refused as soon as it is known to be too large: from ``Content-Length`` before
anything is read, from the bytes read so far, or from the bytes inflated so far. A gzip
bomb therefore costs at most ``limit`` bytes of memory, never its expanded size.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

from audience.errors import PayloadTooLargeError, ValidationError

COMPRESSION_SLACK = 1024
"""Compressed input may exceed the inflated limit by a header's worth for incompressible data."""


class _Inflater:
    """Inflates a stream, failing once the output passes ``limit``."""

    def __init__(self, encoding: str, limit: int) -> None:
        self._encoding = encoding
        self._limit = limit
        self._produced = 0
        self._started = False
        wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
        self._inflate = zlib.decompressobj(wbits)

    def feed(self, chunk: bytes) -> bytes:
        try:
            return self._feed(chunk)
        except zlib.error as exc:
            if self._encoding == "deflate" and not self._started:
                # Some clients send raw deflate without the zlib header RFC 9110 asks for.
                self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)
                self._started = True
                return self._feed_checked(chunk)
            raise ValidationError("body", f"is not valid {self._encoding} data") from exc

    def _feed_checked(self, chunk: bytes) -> bytes:
        try:
            return self._feed(chunk)
        except zlib.error as exc:
            raise ValidationError("body", f"is not valid {self._encoding} data") from exc

    def _feed(self, chunk: bytes) -> bytes:
        parts: list[bytes] = []
        data = chunk
        while data and not self._inflate.eof:
            budget = self._limit - self._produced + 1
            output = self._inflate.decompress(data, budget)
            self._started = True
            self._produced += len(output)
            if self._produced > self._limit:
                raise PayloadTooLargeError("the decompressed body", self._limit)
            parts.append(output)
            data = self._inflate.unconsumed_tail
        return b"".join(parts)

    def finish(self) -> None:
        if not self._inflate.eof:
            raise ValidationError("body", f"is truncated {self._encoding} data")


class BodyReader:
    """One request body taken chunk by chunk, for callers that receive the chunks themselves.

    Raises as ``read_body`` does, and as early: an unknown encoding or a ``Content-Length``
    over the limit when made, a body over the limit in ``feed``, truncated compressed data in
    ``finish``.
    """

    def __init__(
        self, *, limit: int, content_length: str | None = None, content_encoding: str | None = None
    ) -> None:
        encoding = (content_encoding or "identity").strip().lower()
        if encoding not in ("identity", "gzip", "x-gzip", "deflate"):
            raise ValidationError("Content-Encoding", f"{encoding!r} is not gzip or deflate")
        compressed = encoding != "identity"
        self._limit = limit
        self._raw_limit = limit + COMPRESSION_SLACK if compressed else limit
        declared = _declared_length(content_length)
        if declared is not None and declared > self._raw_limit:
            raise PayloadTooLargeError("the request body", limit)
        self._inflater = (
            _Inflater("gzip" if encoding == "x-gzip" else encoding, limit) if compressed else None
        )
        self._parts: list[bytes] = []
        self._received = 0

    def feed(self, chunk: bytes) -> None:
        """Take the next chunk (inflated when the body is compressed)."""
        if not chunk:
            return
        self._received += len(chunk)
        if self._received > self._raw_limit:
            raise PayloadTooLargeError("the request body", self._limit)
        inflater = self._inflater
        self._parts.append(inflater.feed(chunk) if inflater is not None else chunk)

    def finish(self) -> bytes:
        """The whole body, once its last chunk is fed."""
        if self._inflater is not None:
            self._inflater.finish()
        parts = self._parts
        return parts[0] if len(parts) == 1 else b"".join(parts)


async def read_body(
    chunks: AsyncIterator[bytes],
    *,
    limit: int,
    content_length: str | None = None,
    content_encoding: str | None = None,
) -> bytes:
    """The request body, inflated when ``Content-Encoding`` is gzip or deflate.

    Raises ``PayloadTooLargeError`` when the body (after inflating) is over ``limit``
    bytes, and ``ValidationError`` for an unknown encoding or corrupt compressed data.
    """
    reader = BodyReader(
        limit=limit, content_length=content_length, content_encoding=content_encoding
    )
    async for chunk in chunks:
        reader.feed(chunk)
    return reader.finish()


def _declared_length(content_length: str | None) -> int | None:
    if content_length is None:
        return None
    try:
        return int(content_length)
    except ValueError:
        raise ValidationError("Content-Length", "is not a number") from None


async def read_small_body(chunks: AsyncIterator[bytes], *, limit: int, field: str) -> bytes:
    """A short body (a form, an operator's request), as sent; ``ValidationError`` naming
    ``field`` as soon as it passes ``limit`` bytes, so a large one is never held whole."""
    body = b""
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise ValidationError(field, f"is over {limit:,} bytes")
    return body
