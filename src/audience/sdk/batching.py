"""Which pending messages go into the next request, and that request's body. Pure.

A batch holds at most 100 messages and stays under 500 KB: the limit is 475,000 bytes of
messages, leaving room for the envelope and ``sentAt`` (as the Python peers do). Messages arrive
already serialized, so a body is assembled by joining bytes, never by re-encoding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import orjson

MAX_BATCH_MESSAGES: Final = 100
MAX_BATCH_BYTES: Final = 475_000


@dataclass(frozen=True)
class BatchingPolicy:
    """How large one request may grow."""

    max_messages: int = MAX_BATCH_MESSAGES
    max_bytes: int = MAX_BATCH_BYTES


def batch_size(messages: Sequence[bytes], policy: BatchingPolicy) -> int:
    """How many of the oldest ``messages`` fit in one request (at least one)."""
    total = 0
    count = 0
    for body in messages[: policy.max_messages]:
        total += len(body) + 1
        if count and total > policy.max_bytes:
            break
        count += 1
    return count


def entries_per_batch(
    entries: Sequence[tuple[int, Sequence[bytes]]], policy: BatchingPolicy
) -> int:
    """How many of the oldest outbox entries (each already within the limits) fit in one
    request together (at least one)."""
    messages = 0
    total = 0
    count = 0
    for _, bodies in entries:
        messages += len(bodies)
        total += sum(len(body) + 1 for body in bodies)
        if count and (messages > policy.max_messages or total > policy.max_bytes):
            break
        count += 1
    return count


def encode_batch(messages: Sequence[bytes], *, sent_at: str, write_key: str) -> bytes:
    """The JSON body of ``POST /v1/batch``: ``{"batch": [...], "sentAt": ..., "writeKey": ...}``."""
    tail = orjson.dumps({"sentAt": sent_at, "writeKey": write_key})
    return b'{"batch":[' + b",".join(messages) + b"]," + tail[1:]
