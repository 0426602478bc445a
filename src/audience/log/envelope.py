"""How an accepted event travels through the log: one message per ``EventRecord``.

The payload is the record's indexed columns as a JSON array on the first line, then the
stored message exactly as the collector serialized it, so the writer appends the very record
the collector would have committed, without parsing the message again. The header
``Nats-Msg-Id: <source>/<messageId>`` lets JetStream drop a resend within its window.
"""

from __future__ import annotations

from typing import Final

import orjson

from audience.errors import StorageError
from audience.storage.base import EventRecord

MESSAGE_ID_HEADER: Final = "Nats-Msg-Id"
"""JetStream's deduplication header."""


def message_id_of(record: EventRecord) -> str:
    """The log's identity of ``record``: ``<source>/<messageId>``, as the stores dedupe it."""
    return f"{record.source}/{record.message_id}"


def encode(record: EventRecord) -> bytes:
    """The payload of ``record``'s message in the log."""
    columns = orjson.dumps(record[:9])
    return columns + b"\n" + record.message


def decode(payload: bytes) -> EventRecord:
    """The record a payload of ``encode`` carries; ``StorageError`` when it is not one."""
    columns, newline, message = payload.partition(b"\n")
    try:
        fields = orjson.loads(columns)
    except orjson.JSONDecodeError as exc:
        raise StorageError(f"a log message is not an event: {exc}") from exc
    if not newline or not isinstance(fields, list) or len(fields) != 9:
        raise StorageError("a log message is not an event: its first line has no 9 columns")
    return EventRecord._make([*fields, message])
