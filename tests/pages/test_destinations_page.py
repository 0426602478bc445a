"""The destinations page's rows: what an operator reads about each destination."""

from __future__ import annotations

from audience.destinations.base import DestinationConfig
from audience.destinations.filters import EventFilter
from audience.destinations.status import DestinationStatus
from audience.pages.destinations import page_row


def status_of(config: DestinationConfig) -> DestinationStatus:
    return DestinationStatus(
        name=config.name,
        kind=config.kind,
        source=config.source,
        settings=config.redacted(),
        cursor=0,
        lag=0,
        pending_batches=0,
        pending_events=0,
        dead_batches=0,
        dead_events=0,
        delivered_events=0,
        last_delivered_at=None,
        last_error=None,
        last_error_at=None,
    )


def test_a_row_names_the_filters_and_the_transformation_of_its_destination() -> None:
    rules = EventFilter.of(only_types=["track", "identify"], except_events=["Heartbeat"])
    config = DestinationConfig(
        "crm",
        "relay",
        {"url": "https://api.segment.io/v1/batch", "write_key": "sk"},
        filters=rules,
        transform="shop_transforms:for_crm",
    )
    row = page_row(status_of(config))
    assert row["rules"] == (
        "only types identify, track; except events Heartbeat; transform shop_transforms:for_crm"
    )
    assert row["target"] == "https://api.segment.io/v1/batch"
    assert row["settings"]["options"]["write_key"] == "***"


def test_a_row_of_a_destination_taking_every_event_as_it_is_shows_no_rules() -> None:
    config = DestinationConfig("dw", "duckdb", {"path": "/srv/w.duckdb"})
    assert page_row(status_of(config))["rules"] == ""
