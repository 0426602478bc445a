from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator, Iterable

import pytest

from audience.errors import PayloadTooLargeError, ValidationError
from audience.http.body import read_body


async def stream(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


def read(chunks: Iterable[bytes], limit: int = 1000, **headers: str | None) -> bytes:
    return asyncio.run(read_body(stream(chunks), limit=limit, **headers))


def pieces(data: bytes, size: int = 7) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_a_plain_body_is_returned_whole() -> None:
    assert read([b'{"a":', b"1}"]) == b'{"a":1}'


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data)[2:-4]),
    ],
    ids=["gzip", "x-gzip", "deflate", "raw deflate"],
)
def test_compressed_bodies_are_inflated(encoding: str, compress: object) -> None:
    data = b'{"batch": []}' * 20
    assert callable(compress)
    assert read(pieces(compress(data)), content_encoding=encoding) == data


def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    def never() -> Iterable[bytes]:
        raise AssertionError("the body must not be read")
        yield b""

    with pytest.raises(PayloadTooLargeError):
        read(never(), limit=100, content_length="5000")


def test_a_body_growing_past_the_limit_is_refused() -> None:
    with pytest.raises(PayloadTooLargeError):
        read([b"x" * 600, b"x" * 600], limit=1000)


def test_a_gzip_bomb_is_refused_without_being_expanded() -> None:
    bomb = gzip.compress(b"\0" * 50_000_000)
    assert len(bomb) < 100_000
    with pytest.raises(PayloadTooLargeError):
        read(pieces(bomb, 8192), limit=500 * 1024, content_encoding="gzip")


@pytest.mark.parametrize(
    ("chunks", "encoding"),
    [([b"not gzip at all"], "gzip"), ([gzip.compress(b"hello")[:-12]], "gzip"), ([b"x"], "br")],
    ids=["garbage", "truncated", "unknown encoding"],
)
def test_corrupt_or_unknown_encodings_are_validation_errors(
    chunks: list[bytes], encoding: str
) -> None:
    with pytest.raises(ValidationError):
        read(chunks, content_encoding=encoding)
