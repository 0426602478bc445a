"""Which partition of the log an event goes to: a pure rule, the same in every process.

The partition key is the event's identity: its ``anonymousId`` when it has one, else its
``userId``, else its ``messageId``. One person's events therefore stay in one partition, read
in order by one consumer. The key is hashed with BLAKE2b (not Python's ``hash``, which is
salted per process) so that every collector, on any host, picks the same partition.
"""

from __future__ import annotations

import hashlib
from typing import Final

DEFAULT_PARTITIONS: Final = 4
"""Partitions of the log when the ``partitions`` setting is left out."""


def partition_key(anonymous_id: str | None, user_id: str | None, message_id: str) -> str:
    """The identity an event is partitioned by: anonymousId, else userId, else messageId."""
    return anonymous_id or user_id or message_id


def partition_of(key: str, partitions: int) -> int:
    """The partition, in ``[0, partitions)``, of the partition key ``key``."""
    if partitions <= 0:
        raise ValueError(f"partitions must be positive, not {partitions}")
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % partitions


def subject_of(prefix: str, partition: int) -> str:
    """The JetStream subject of ``partition``: ``<prefix>.events.<partition>``."""
    return f"{prefix}.events.{partition}"


def subjects_of(prefix: str) -> str:
    """The wildcard subject of every partition, the stream's subjects."""
    return f"{prefix}.events.*"
