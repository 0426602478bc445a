"""Erasing a person from the destinations: their rows leave a real PostgreSQL warehouse and a real
DuckDB file, other people's stay, and a webhook receives the deletion notice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from audience.clock import SystemClock
from audience.destinations.base import DestinationConfig
from audience.destinations.erasure import Person, erase
from audience.destinations.registry import open_destination
from audience.eventlog import StoredEvent
from support import Receiver

from .conftest import Query, warehouse_at

ADA = "ada-lovelace-1815"


def event(seq: int, kind: str, **fields: Any) -> StoredEvent:
    when = f"2026-11-29T12:{seq:02d}:00.000Z"
    message = {"type": kind, "messageId": f"m-{seq}", "timestamp": when, "receivedAt": when}
    return StoredEvent(seq=seq, source="web", message={**message, **fields})


JOURNEY = [
    event(1, "page", anonymousId="ada-anon", name="Home"),
    event(2, "track", anonymousId="ada-anon", event="Added to Cart", properties={"sku": "x"}),
    event(
        3,
        "identify",
        anonymousId="ada-anon",
        userId=ADA,
        traits={"email": "ada@example.com", "favourite": "difference-engine", "age": "n/a"},
    ),
    event(4, "alias", userId=ADA, previousId="ada-anon"),
    event(5, "group", userId=ADA, groupId="g-1", traits={"name": "Analytical"}),
    event(6, "screen", anonymousId="phone-anon", userId=ADA, name="Cart"),
    event(7, "identify", anonymousId="bob-anon", userId="bob", traits={"favourite": "tea"}),
    event(8, "track", userId="bob", event="Added to Cart"),
    event(9, "identify", anonymousId="ada-anon", userId=ADA, traits={"age": 36}),
]
PERSON = Person((ADA,), ("ada-anon", "phone-anon"), ("ada@example.com",))


@pytest.fixture(params=["postgres", "duckdb"])
def warehouse(
    request: pytest.FixtureRequest, pg_schema: str, tmp_path: Path
) -> tuple[DestinationConfig, Query]:
    return warehouse_at(request.param, "dw", pg_schema, tmp_path)


def every_value(query: Query) -> str:
    tables = [
        str(row[0])
        for row in query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = '{schema}'"
        )
    ]
    return " ".join(
        str(row) for table in tables for row in query(f'SELECT * FROM "{{schema}}"."{table}"')
    )


def test_a_persons_rows_leave_every_table_of_the_warehouse(
    warehouse: tuple[DestinationConfig, Query],
) -> None:
    config, query = warehouse
    destination = open_destination(config, SystemClock())
    try:
        destination.deliver(JOURNEY, "b-1")
    finally:
        destination.close()
    assert ADA in every_value(query)
    done = erase([config], PERSON, sources=["web"], notice_id="reg_1", clock=SystemClock())
    assert done["dw"] >= 8
    left = every_value(query)
    for value in (ADA, "ada-anon", "phone-anon", "ada@example.com", "difference-engine"):
        assert value not in left
    assert "bob-anon" in left
    assert query('SELECT id FROM "{schema}".users') == [("bob",)]
    if config.kind == "duckdb":  # the raw bytes of the file too
        contents = Path(str(config.options["path"])).read_bytes()
        for value in (ADA, "ada-anon", "ada@example.com", "difference-engine"):
            assert value.encode() not in contents
    destination = open_destination(config, SystemClock())
    try:
        destination.deliver([event(20, "identify", userId="carol", traits={"x": 1})], "b-2")
    finally:
        destination.close()
    assert sorted(query('SELECT id FROM "{schema}".users')) == [("bob",), ("carol",)], (
        "the tables take new loads as before"
    )


def test_a_webhook_receives_a_deletion_notice_naming_every_identifier(
    receiver: Receiver,
) -> None:
    receiver.start()
    config = DestinationConfig("hook", "webhook", {"url": receiver.url, "secret": "k" * 32})
    done = erase([config], PERSON, sources=["web"], notice_id="reg_1", clock=SystemClock())
    assert done == {"hook": 1}
    (request,) = receiver.requests
    (notice,) = request.batch
    assert notice["type"] == "delete"
    assert notice["messageId"] == "reg_1"
    assert notice["context"]["identifiers"] == {
        "userIds": [ADA],
        "anonymousIds": ["ada-anon", "phone-anon"],
        "emails": ["ada@example.com"],
    }
    assert "webhook-signature" in {name.lower() for name in request.headers}
