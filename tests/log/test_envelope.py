"""A record travels through the log unchanged, and a message that is no record is refused."""

from __future__ import annotations

import pytest

from audience.errors import StorageError
from audience.log.envelope import decode, encode, message_id_of
from audience.storage.base import EventRecord

RECORD = EventRecord(
    "web",
    "m-1",
    "track",
    None,
    "anon-1",
    "Signed Up",
    "2026-12-07T10:00:00.000Z",
    "2026-12-07T09:59:59.000Z",
    "203.0.113.9",
    b'{"type":"track","event":"Signed Up","note":"line\\nbreak"}',
)


def test_a_record_read_back_from_its_message_is_the_same_record() -> None:
    assert decode(encode(RECORD)) == RECORD


def test_the_log_s_message_id_is_the_source_then_the_message_id() -> None:
    assert message_id_of(RECORD) == "web/m-1"


def test_a_message_without_the_columns_line_is_refused_naming_the_problem() -> None:
    with pytest.raises(StorageError, match="9 columns"):
        decode(b'["web","m-1"]\n{}')
    with pytest.raises(StorageError, match="not an event"):
        decode(b"not json")
