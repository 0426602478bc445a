"""Filters per destination: the pure rules, and skipped events moving the cursor on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from audience.cli import main
from audience.config import load_settings
from audience.destinations.base import DestinationConfig
from audience.destinations.delivery_store import DeliveryStore
from audience.destinations.dispatcher import Dispatcher
from audience.destinations.filters import EventFilter
from audience.errors import ConfigError
from audience.serving.app import build_server_app
from audience.storage.backend import EventStore
from audience.testing import FakeClock
from support import AdminApi, LiveServer, Receiver

from .conftest import Append, record, track

IDENTIFY: dict[str, Any] = {"type": "identify", "userId": "u-1"}
SIGNED_UP: dict[str, Any] = {"type": "track", "event": "Signed Up"}
ORDERED: dict[str, Any] = {"type": "track", "event": "Order Completed"}


@pytest.mark.parametrize(
    ("rules", "source", "message", "passes"),
    [
        ({}, "web", ORDERED, True),
        ({"only_sources": ["web"]}, "web", ORDERED, True),
        ({"only_sources": ["web"]}, "ios", ORDERED, False),
        ({"except_sources": ["ios"]}, "ios", ORDERED, False),
        ({"except_sources": ["ios"]}, "web", ORDERED, True),
        ({"only_types": ["identify"]}, "web", IDENTIFY, True),
        ({"only_types": ["identify"]}, "web", ORDERED, False),
        ({"except_types": ["identify"]}, "web", IDENTIFY, False),
        ({"only_events": ["Order Completed"]}, "web", ORDERED, True),
        ({"only_events": ["Order Completed"]}, "web", SIGNED_UP, False),
        ({"only_events": ["Order Completed"]}, "web", IDENTIFY, True),
        ({"except_events": ["Signed Up"]}, "web", SIGNED_UP, False),
        ({"except_events": ["Signed Up"]}, "web", ORDERED, True),
        ({"only_types": ["track"], "only_events": ["Order Completed"]}, "web", IDENTIFY, False),
        ({"only_sources": ["web"], "except_events": ["Signed Up"]}, "ios", ORDERED, False),
    ],
)
def test_an_event_passes_a_filter_only_when_every_rule_lets_it(
    rules: dict[str, list[str]], source: str, message: dict[str, Any], passes: bool
) -> None:
    assert EventFilter.of(**rules).accepts(source, message) is passes


def test_a_filter_survives_its_json_form_and_an_empty_one_writes_nothing() -> None:
    rules = EventFilter.of(only_types=["track", "page"], except_events=["Heartbeat"])
    assert rules.to_json() == {"only_types": ["page", "track"], "except_events": ["Heartbeat"]}
    assert EventFilter.from_json(rules.to_json()) == rules
    assert EventFilter().to_json() == {}
    assert EventFilter.from_json(None).empty


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"only_types": ["purchase"]}, "purchase is not a message type"),
        ({"only_colours": ["red"]}, "unknown filter rule"),
        ({"only_events": "Signed Up"}, "only_events: must be a list"),
        ({"except_sources": [""]}, "except_sources: every name must be a non-empty string"),
    ],
)
def test_a_malformed_filter_is_refused_naming_the_rule(data: dict[str, Any], reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        EventFilter.from_json(data)


@pytest.fixture
def dispatcher(event_store: EventStore, delivery_store: DeliveryStore) -> Iterator[Dispatcher]:
    worker = Dispatcher(event_store, delivery_store, FakeClock())
    yield worker
    worker.close()


def test_filtered_out_events_move_the_cursor_on_and_are_never_pending(
    receiver: Receiver,
    append: Append,
    event_store: EventStore,
    delivery_store: DeliveryStore,
    dispatcher: Dispatcher,
) -> None:
    receiver.start()
    append([track(1), track(2, event="Heartbeat"), track(3, type="identify"), track(4)])
    event_store.append([record("ios", track(5))]).result()
    rules = EventFilter.of(only_sources=["web"], except_events=["Heartbeat"])
    options = {"url": receiver.url, "secret": "k"}
    delivery_store.add(DestinationConfig("hook", "webhook", options, filters=rules), 0, 0.0)

    while dispatcher.step():
        pass

    assert receiver.message_ids() == ["m-1", "m-3", "m-4"]
    stats = delivery_store.stats("hook")
    assert stats.cursor == 5
    assert stats.pending_events == 0
    assert stats.dead_events == 0


def test_every_filter_skips_a_batch_whose_events_it_all_rejects_and_stays_caught_up(
    receiver: Receiver,
    append: Append,
    delivery_store: DeliveryStore,
    dispatcher: Dispatcher,
) -> None:
    receiver.start()
    append([track(n, event="Heartbeat") for n in range(1, 6)])
    rules = EventFilter.of(except_events=["Heartbeat"])
    options = {"url": receiver.url, "secret": "k"}
    delivery_store.add(DestinationConfig("hook", "webhook", options, filters=rules), 0, 0.0)

    while dispatcher.step():
        pass

    assert receiver.requests == []
    assert delivery_store.stats("hook").cursor == 5
    assert delivery_store.stats("hook").pending_batches == 0


def test_filters_given_to_destinations_add_are_listed_and_shown_by_the_admin_api(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    target = ["crm", "--webhook", "https://crm.example.com/in", "--data", str(data_dir)]
    rules = ["--only-source", "web", "--only-type", "track", "--only-type", "identify"]
    rules += ["--except-event", "Heartbeat"]
    added = CliRunner().invoke(main, ["destinations", "add", *target, *rules])
    assert added.exit_code == 0, added.output
    expected = {
        "only_sources": ["web"],
        "only_types": ["identify", "track"],
        "except_events": ["Heartbeat"],
    }
    listed = CliRunner().invoke(main, ["destinations", "list", "--json", "--data", str(data_dir)])
    (config,) = json.loads(listed.output)
    assert config["filters"] == expected

    app, first = build_server_app(load_settings(env={}, overrides={"data_dir": data_dir}))
    with LiveServer(app) as server, AdminApi(server.url, first.admin_token) as admin:
        (status,) = admin.get("/api/destinations").json()["destinations"]
    assert status["settings"]["filters"] == expected


def test_destinations_add_refuses_an_unknown_type_naming_the_option(tmp_path: Path) -> None:
    arguments = ["x", "--webhook", "http://a", "--only-type", "purchase", "--data", str(tmp_path)]
    result = CliRunner().invoke(main, ["destinations", "add", *arguments])
    assert result.exit_code == 2
    assert "--only-type" in result.output
    assert "purchase" in result.output
