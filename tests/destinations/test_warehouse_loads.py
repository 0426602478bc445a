"""Warehouse loads into the real PostgreSQL and a real DuckDB file, through the dispatcher."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest

from audience.clock import SystemClock
from audience.destinations.base import DestinationConfig
from audience.destinations.delivery_store import DeliveryStore
from audience.destinations.dispatcher import BackgroundDispatcher, Dispatcher
from audience.storage.backend import EventStore
from support import wait_for

from .conftest import POSTGRES_URL, Append, Query, track, warehouse_at


def identify(n: int, user: str, minute: int, **traits: Any) -> dict[str, Any]:
    when = f"2026-11-29T12:{minute:02d}:00.000Z"
    return {
        "type": "identify",
        "messageId": f"i-{n}",
        "userId": user,
        "anonymousId": f"a-{n}",
        "timestamp": when,
        "receivedAt": when,
        "traits": traits,
        "context": {"traits": {"plan_id": traits.get("plan_id")}},
    }


@pytest.fixture(params=["postgres", "duckdb"])
def warehouse(
    request: pytest.FixtureRequest, pg_schema: str, tmp_path: Path
) -> tuple[DestinationConfig, Query]:
    """A warehouse destination for source "web" and a way to query its schema."""
    return warehouse_at(request.param, "warehouse", pg_schema, tmp_path)


def deliver_all(event_store: EventStore, delivery_store: DeliveryStore) -> None:
    dispatcher = Dispatcher(event_store, delivery_store, SystemClock())
    try:
        for _ in range(100):
            if not dispatcher.step():
                return
        raise AssertionError("the dispatcher never became idle")
    finally:
        dispatcher.close()


def columns(query: Query, table: str) -> list[str]:
    rows = query(
        "SELECT column_name FROM information_schema.columns "
        f"WHERE table_schema = '{{schema}}' AND table_name = '{table}' ORDER BY column_name"
    )
    return [row[0] for row in rows]


def test_tracks_land_in_tracks_and_their_event_table_with_context_traits_columns(
    warehouse: tuple[DestinationConfig, Query],
    append: Append,
    event_store: EventStore,
    delivery_store: DeliveryStore,
) -> None:
    """The seed: context.traits "does appear in warehouses and storage destinations"."""
    config, query = warehouse
    delivery_store.add(config, 0, 0.0)
    append([track(1), track(2)])
    deliver_all(event_store, delivery_store)

    assert {"context_traits_plan_id", "context_library_name", "event", "event_text"} <= set(
        columns(query, "tracks")
    )
    assert "email_campaign" not in columns(query, "tracks")
    assert {"context_traits_plan_id", "email_campaign", "n", "received_at"} <= set(
        columns(query, "clicked_email")
    )
    rows = query(
        "SELECT id, context_traits_plan_id, email_campaign, n "
        "FROM {schema}.clicked_email ORDER BY n"
    )
    assert rows == [
        ("m-1", "Paid, Tier 2", "First Touch", 1),
        ("m-2", "Paid, Tier 2", "First Touch", 2),
    ]


def test_new_properties_add_columns_to_existing_tables(
    warehouse: tuple[DestinationConfig, Query],
    append: Append,
    event_store: EventStore,
    delivery_store: DeliveryStore,
) -> None:
    config, query = warehouse
    delivery_store.add(config, 0, 0.0)
    append([track(1)])
    deliver_all(event_store, delivery_store)
    assert "coupon_code" not in columns(query, "clicked_email")

    append([track(2, properties={"couponCode": "XMAS", "cart": {"total": 12.5}})])
    deliver_all(event_store, delivery_store)

    assert {"coupon_code", "cart_total"} <= set(columns(query, "clicked_email"))
    rows = query("SELECT id, coupon_code, cart_total FROM {schema}.clicked_email ORDER BY id")
    assert rows == [("m-1", None, None), ("m-2", "XMAS", 12.5)]


def test_users_are_upserted_per_user_id_with_the_latest_traits(
    warehouse: tuple[DestinationConfig, Query],
    append: Append,
    event_store: EventStore,
    delivery_store: DeliveryStore,
) -> None:
    config, query = warehouse
    delivery_store.add(config, 0, 0.0)
    append([identify(1, "u1", 10, plan_id="Free", email="cool.person@example.com")])
    deliver_all(event_store, delivery_store)
    append([identify(2, "u1", 20, plan_id="Paid, Tier 2"), identify(3, "u2", 20, plan_id="Free")])
    deliver_all(event_store, delivery_store)
    # An identify that happened earlier but arrives last does not roll the plan back.
    append([identify(4, "u1", 5, plan_id="Trial", company="Acme")])
    deliver_all(event_store, delivery_store)

    users = query("SELECT id, plan_id, email, company FROM {schema}.users ORDER BY id")
    assert users == [
        ("u1", "Paid, Tier 2", "cool.person@example.com", "Acme"),
        ("u2", "Free", None, None),
    ]
    assert "anonymous_id" not in columns(query, "users")
    assert query("SELECT count(*) FROM {schema}.identifies") == [(4,)]
    assert "context_traits_plan_id" in columns(query, "identifies")


def test_loading_the_same_batch_again_stores_each_event_once(
    warehouse: tuple[DestinationConfig, Query],
    append: Append,
    event_store: EventStore,
    delivery_store: DeliveryStore,
) -> None:
    """At-least-once delivery becomes exactly-once rows: id (the messageId) is the key."""
    config, query = warehouse
    delivery_store.add(config, 0, 0.0)
    append([track(1), track(2)])
    deliver_all(event_store, delivery_store)
    delivery_store.add(DestinationConfig("again", config.kind, config.options), 0, 0.0)
    deliver_all(event_store, delivery_store)

    assert query("SELECT count(*) FROM {schema}.tracks") == [(2,)]
    assert query("SELECT count(*) FROM {schema}.clicked_email") == [(2,)]


def test_each_source_gets_its_own_schema_when_none_is_configured(
    pg: psycopg.Connection[Any],
    append: Append,
    event_store: EventStore,
    delivery_store: DeliveryStore,
) -> None:
    source = f"shop_{id(pg)}"
    try:
        delivery_store.add(DestinationConfig("pg", "postgres", {"url": POSTGRES_URL}), 0, 0.0)
        append([track(1)], source=source)
        deliver_all(event_store, delivery_store)
        rows = pg.execute(f"SELECT id, context_traits_plan_id FROM {source}.tracks").fetchall()
        assert rows == [("m-1", "Paid, Tier 2")]
    finally:
        pg.execute(f"DROP SCHEMA IF EXISTS {source} CASCADE")


def test_a_value_of_the_wrong_type_is_kept_in_discards(
    warehouse: tuple[DestinationConfig, Query],
    append: Append,
    event_store: EventStore,
    delivery_store: DeliveryStore,
) -> None:
    config, query = warehouse
    delivery_store.add(config, 0, 0.0)
    append([track(1), track(2, properties={"n": "two"})])
    deliver_all(event_store, delivery_store)
    assert query("SELECT id, n FROM {schema}.clicked_email ORDER BY id") == [
        ("m-1", 1),
        ("m-2", None),
    ]
    assert query("SELECT table_name, column_name, column_value FROM {schema}.discards") == [
        ("clicked_email", "n", "two")
    ]


def test_another_program_can_read_the_duckdb_file_once_loading_has_caught_up(
    tmp_path: Path,
    append: Append,
    event_store: EventStore,
    delivery_store: DeliveryStore,
) -> None:
    path = tmp_path / "lake.duckdb"
    delivery_store.add(DestinationConfig("lake", "duckdb", {"path": str(path)}), 0, 0.0)
    worker = BackgroundDispatcher(
        Dispatcher(event_store, delivery_store, SystemClock()), idle_interval=0.05
    )
    worker.start()
    try:
        append([track(1), track(2)])
        wait_for(lambda: delivery_store.stats("lake").delivered_events >= 2, 60, "the load")
        reader = "import duckdb, sys; print(duckdb.connect(sys.argv[1], read_only=True)" + (
            ".execute('SELECT count(*) FROM web.clicked_email').fetchone()[0])"
        )
        for _ in range(100):  # the worker lets go of the file as soon as it is idle
            done = subprocess.run(
                [sys.executable, "-c", reader, str(path)], capture_output=True, check=False
            )
            if done.returncode == 0:
                break
            time.sleep(0.05)
        assert done.stdout.strip() == b"2", done.stderr
    finally:
        worker.stop()


def test_a_duckdb_file_named_after_a_source_holds_that_sources_schema(
    tmp_path: Path,
    append: Append,
    event_store: EventStore,
    delivery_store: DeliveryStore,
) -> None:
    """``web.duckdb`` names its catalog ``web``, as the schema of the source ``web`` is named."""
    path = tmp_path / "web.duckdb"
    delivery_store.add(DestinationConfig("lake", "duckdb", {"path": str(path)}), 0, 0.0)
    append([track(1), track(2)])
    deliver_all(event_store, delivery_store)
    assert delivery_store.stats("lake").delivered_events == 2
    with duckdb.connect(str(path), read_only=True) as connection:
        rows = connection.execute("SELECT id FROM web.web.clicked_email ORDER BY id").fetchall()
    assert rows == [("m-1",), ("m-2",)]
