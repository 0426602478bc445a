"""Order keys of events at, or written past, the ends of the representable time range."""

from __future__ import annotations

import pytest

from audience.identity.graph import identity_of, order_key


@pytest.mark.parametrize(
    ("timestamp", "moment"),
    [
        ("0001-01-01T00:00:00.000Z", "0001-01-01T00:00:00.000Z"),
        ("9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999Z"),
        ("0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00.000Z"),
        ("9999-12-31T23:59:59-01:00", "9999-12-31T23:59:59.999Z"),
        ("+010000-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z"),
        ("2016-12-31T23:59:60Z", "2016-12-31T23:59:59.999Z"),
        ("not a time", "2026-11-29T12:00:00.000Z"),
    ],
)
def test_an_extreme_or_odd_stored_time_gives_an_order_key_at_the_range_end(
    timestamp: str, moment: str
) -> None:
    """Events stored before times were kept in one form may hold any of these."""
    message = {
        "type": "identify",
        "userId": "u1",
        "anonymousId": "a1",
        "messageId": "m1",
        "timestamp": timestamp,
        "receivedAt": "2026-11-29T12:00:00.000Z",
    }
    key, at = order_key(message)
    assert at == moment
    assert key.startswith(moment)
    assert identity_of(message).timestamp == moment


def test_the_ends_of_the_range_sort_before_and_after_every_other_time() -> None:
    times = ["9999-12-31T23:59:59.999Z", "2026-11-29T12:00:00.000Z", "0001-01-01T00:00:00.000Z"]
    keys = [order_key({"timestamp": t, "messageId": "m", "type": "track"})[0] for t in times]
    assert sorted(keys) == keys[::-1]
