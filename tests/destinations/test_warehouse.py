from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from audience.destinations.flatten import ColumnType
from audience.destinations.warehouse import event_table, plan_load, rows_for
from audience.eventlog import StoredEvent

from .conftest import track

LOADED = datetime(2026, 11, 29, 13, tzinfo=UTC)


def stored(seq: int, message: dict[str, Any], source: str = "web") -> StoredEvent:
    return StoredEvent(seq, source, message)


def identify(n: int, user: str, minute: int, **traits: Any) -> dict[str, Any]:
    when = f"2026-11-29T12:{minute:02d}:00.000Z"
    return {
        "type": "identify",
        "messageId": f"i-{n}",
        "userId": user,
        "anonymousId": "a-1",
        "timestamp": when,
        "receivedAt": when,
        "traits": traits,
        "context": {"ip": "10.0.0.1"},
    }


def test_a_track_becomes_a_tracks_row_and_a_row_in_its_event_table() -> None:
    rows = rows_for(stored(1, track(1)), LOADED)
    assert [row.table for row in rows] == ["tracks", "clicked_email"]
    tracks, event = (row.values for row in rows)
    assert tracks["context_traits_plan_id"] == "Paid, Tier 2"
    assert "email_campaign" not in tracks
    assert event["email_campaign"] == "First Touch"
    assert event["event"] == "clicked_email"
    assert event["event_text"] == "Clicked Email"
    assert event["id"] == "m-1"


def test_an_event_named_like_a_layout_table_gets_its_own_table() -> None:
    assert event_table("Users") == "_users"
    assert event_table("Order Completed") == "order_completed"


def test_an_identify_becomes_an_identifies_row_and_a_users_row_keyed_by_user_id() -> None:
    rows = rows_for(stored(1, identify(1, "u1", 0, plan_id="pro", user_id="x")), LOADED)
    identifies, users = rows
    assert identifies.table == "identifies"
    assert identifies.values["plan_id"] == "pro"
    assert identifies.values["_user_id"] == "x"
    assert identifies.values["user_id"] == "u1"
    assert identifies.values["context_ip"] == "10.0.0.1"
    assert users.table == "users"
    assert users.values["id"] == "u1"
    assert "anonymous_id" not in users.values


def test_an_anonymous_identify_updates_no_user() -> None:
    message = identify(1, "u1", 0, plan_id="pro")
    del message["userId"]
    assert [row.table for row in rows_for(stored(1, message), LOADED)] == ["identifies"]


def test_pages_screens_groups_and_aliases_have_their_own_tables_and_columns() -> None:
    base = {"messageId": "m", "receivedAt": "2026-11-29T12:00:00Z", "userId": "u1"}
    page = {**base, "type": "page", "name": "Home", "properties": {"path": "/"}}
    group = {**base, "type": "group", "groupId": "g1", "traits": {"employees": 12}}
    alias = {**base, "type": "alias", "previousId": "a-1"}
    screen = {**base, "type": "screen", "name": "Cart"}
    tables = {
        row.table: row.values
        for message in (page, group, alias, screen)
        for row in rows_for(stored(1, message), LOADED)
    }
    assert tables["pages"]["name"] == "Home"
    assert tables["pages"]["path"] == "/"
    assert tables["groups"]["group_id"] == "g1"
    assert tables["groups"]["employees"] == 12
    assert tables["aliases"]["previous_id"] == "a-1"
    assert tables["screens"]["name"] == "Cart"


def test_a_plan_creates_missing_tables_and_adds_only_new_columns() -> None:
    existing = {
        "tracks": {"id": ColumnType.STRING, "context_traits_plan_id": ColumnType.STRING},
        "clicked_email": {"id": ColumnType.STRING, "n": ColumnType.INTEGER},
    }
    plan = plan_load("web", [stored(1, track(1))], existing, LOADED)
    assert set(plan.new_tables) == set()
    assert "email_campaign" in plan.new_columns["clicked_email"]
    assert "n" not in plan.new_columns["clicked_email"]
    assert plan.new_columns["tracks"]["received_at"] is ColumnType.TIMESTAMP


def test_a_value_that_does_not_fit_its_column_is_kept_in_discards() -> None:
    existing = {"clicked_email": {"id": ColumnType.STRING, "n": ColumnType.INTEGER}}
    plan = plan_load("web", [stored(1, track(1, properties={"n": "many"}))], existing, LOADED)
    loads = {load.table: load for load in plan.loads}
    event = loads["clicked_email"]
    assert event.rows[0][event.columns.index("n")] is None
    discard = dict(zip(loads["discards"].columns, loads["discards"].rows[0], strict=True))
    assert discard["table_name"] == "clicked_email"
    assert discard["column_name"] == "n"
    assert discard["column_value"] == "many"


def test_users_rows_of_one_batch_merge_with_the_latest_identify_winning() -> None:
    """Traits merge by event timestamp, not arrival order; missing traits keep their value."""
    events = [
        stored(1, identify(1, "u1", 30, plan="pro")),
        stored(2, identify(2, "u1", 10, plan="free", email="old@example.com")),
    ]
    plan = plan_load("web", events, {}, LOADED)
    users = next(load for load in plan.loads if load.table == "users")
    assert len(users.rows) == 1
    row = dict(zip(users.columns, users.rows[0], strict=True))
    assert row["plan"] == "pro"
    assert row["email"] == "old@example.com"
    assert users.upsert


def test_a_message_loaded_twice_in_one_batch_is_one_row() -> None:
    plan = plan_load("web", [stored(1, track(1)), stored(2, track(1))], {}, LOADED)
    assert all(len(load.rows) == 1 for load in plan.loads)
