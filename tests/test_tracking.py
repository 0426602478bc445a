from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from audience.errors import ValidationError
from audience.tracking import format_timestamp, parse_timestamp


def test_timestamps_are_written_in_utc_with_milliseconds_and_z() -> None:
    moment = datetime(2026, 11, 29, 18, 55, 54, 106789, tzinfo=timezone(timedelta(hours=2)))
    assert format_timestamp(moment) == "2026-11-29T16:55:54.106Z"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-29T18:55:54.106Z", datetime(2026, 11, 29, 18, 55, 54, 106000, tzinfo=UTC)),
        ("2026-11-29T18:56:28.395+00:00", datetime(2026, 11, 29, 18, 56, 28, 395000, tzinfo=UTC)),
        (
            "2026-11-29T20:56:28.895575+02:00",
            datetime(2026, 11, 29, 18, 56, 28, 895575, tzinfo=UTC),
        ),
        ("2026-11-29T18:56:28", datetime(2026, 11, 29, 18, 56, 28, tzinfo=UTC)),
    ],
)
def test_timestamps_the_clients_send_are_read_as_utc(text: str, expected: datetime) -> None:
    assert parse_timestamp(text) == expected


def test_a_timestamp_that_is_not_iso_8601_is_rejected_naming_its_field() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_timestamp("yesterday", field="batch[2].timestamp")
    assert caught.value.field == "batch[2].timestamp"
