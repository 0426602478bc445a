"""Transformations: the user's functions, in a module on disk, run by a real dispatcher process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from audience.destinations.base import DestinationConfig, DestinationPolicy
from audience.destinations.delivery_store import DeliveryStore
from audience.destinations.transforms import load_transform, transform_events
from audience.errors import ConfigError
from audience.eventlog import StoredEvent
from support import Receiver, audience_command, wait_for

from .conftest import Append, track

MODULE = '''
"""A shop's transformations for its CRM."""


def shape(event):
    """Tag every event; split a cart into one event per item; drop heartbeats; refuse a
    marked event."""
    name = event.get("event")
    if name == "Heartbeat":
        return None
    if name == "Cart Viewed":
        return [
            {**event, "messageId": f"{event['messageId']}-{item}", "event": "Item Viewed"}
            for item in event["properties"]["items"]
        ]
    if event["properties"].get("poison"):
        raise ValueError("cannot shape an event marked poison")
    event["properties"]["shaped"] = True
    return event


def returns_a_number(event):
    return 42


not_callable = "shape"
'''


@pytest.fixture
def transforms_dir(tmp_path: Path) -> Path:
    """A folder holding the module ``shop_transforms``, as a user's project would."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "shop_transforms.py").write_text(textwrap.dedent(MODULE))
    return folder


@pytest.fixture
def audience_env(transforms_dir: Path) -> dict[str, str]:
    """The environment of ``audience`` commands that can import ``shop_transforms``."""
    return {**os.environ, "PYTHONPATH": str(transforms_dir), "AUDIENCE_LOG_LEVEL": "info"}


@pytest.fixture
def start_dispatcher(
    location: list[str], audience_env: dict[str, str], tmp_path: Path
) -> Iterator[Callable[[], tuple[subprocess.Popen[bytes], Path]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start() -> tuple[subprocess.Popen[bytes], Path]:
        log_path = tmp_path / f"dispatcher-{len(started)}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [*audience_command(), "destinations", "run", *location, "--idle-interval", "0.05"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=audience_env,
            )
        started.append(process)
        return process, log_path

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.wait(30)


def add_destination(location: list[str], env: dict[str, str], *arguments: str) -> str:
    """``audience destinations add`` in a process of its own; its output (exit code checked)."""
    completed = subprocess.run(
        [*audience_command(), "destinations", "add", *arguments, *location],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise AssertionError(completed.stdout + completed.stderr)
    return completed.stdout


def test_a_transformation_changes_splits_and_drops_events_and_dead_letters_only_its_failures(
    receiver: Receiver,
    append: Append,
    delivery_store: DeliveryStore,
    location: list[str],
    audience_env: dict[str, str],
    start_dispatcher: Callable[[], tuple[subprocess.Popen[bytes], Path]],
) -> None:
    receiver.start()
    append(
        [
            track(1),
            track(2, event="Cart Viewed", properties={"items": ["sku-a", "sku-b"]}),
            track(3, event="Heartbeat"),
            track(4, properties={"poison": True}),
            track(5),
        ]
    )
    hook = ["crm", "--webhook", receiver.url, "--secret", "k" * 32]
    add_destination(location, audience_env, *hook, "--transform", "shop_transforms:shape")

    dispatcher, _ = start_dispatcher()
    wait_for(lambda: delivery_store.stats("crm").cursor == 5, seconds=60, what="the cursor at 5")
    wait_for(lambda: delivery_store.stats("crm").pending_events == 0, seconds=60, what="no pending")
    dispatcher.send_signal(signal.SIGTERM)
    assert dispatcher.wait(30) == 0

    assert receiver.message_ids() == ["m-1", "m-2-sku-a", "m-2-sku-b", "m-5"]
    delivered = {message["messageId"]: message for message in receiver.requests[0].batch}
    assert delivered["m-1"]["properties"]["shaped"] is True
    assert delivered["m-2-sku-b"]["event"] == "Item Viewed"
    (dead,) = delivery_store.dead_letters("crm")
    assert dead.seqs == (4,)
    assert dead.last_error == "transform failed: ValueError: cannot shape an event marked poison"
    stats = delivery_store.stats("crm")
    assert stats.delivered_events == 4  # the heartbeat, dropped, counts as delivered
    assert stats.dead_events == 1


def test_a_fixed_transformation_delivers_its_dead_letters_on_replay(
    receiver: Receiver,
    append: Append,
    delivery_store: DeliveryStore,
    location: list[str],
    audience_env: dict[str, str],
    transforms_dir: Path,
    start_dispatcher: Callable[[], tuple[subprocess.Popen[bytes], Path]],
) -> None:
    receiver.start()
    append([track(1, properties={"poison": True})])
    hook = ["crm", "--webhook", receiver.url, "--secret", "k" * 32]
    add_destination(location, audience_env, *hook, "--transform", "shop_transforms:shape")
    dispatcher, _ = start_dispatcher()
    wait_for(lambda: delivery_store.dead_letters("crm"), seconds=60, what="a dead letter")
    dispatcher.send_signal(signal.SIGTERM)
    dispatcher.wait(30)

    fixed = MODULE.replace('raise ValueError("cannot shape an event marked poison")', "pass")
    (transforms_dir / "shop_transforms.py").write_text(textwrap.dedent(fixed))
    replayed = subprocess.run(
        [*audience_command(), "destinations", "replay", "crm", *location],
        env=audience_env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert receiver.message_ids() == ["m-1"]
    assert delivery_store.dead_letters("crm") == []


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("shop_transforms.shape", "must be written package.module:function"),
        ("no_such_module:shape", "cannot import no_such_module: ModuleNotFoundError"),
        ("shop_transforms:reshape", "shop_transforms has no reshape"),
        ("shop_transforms:not_callable", "not_callable is not callable"),
    ],
)
def test_destinations_add_refuses_a_transformation_it_cannot_import(
    location: list[str], audience_env: dict[str, str], path: str, reason: str
) -> None:
    arguments = ["crm", "--webhook", "https://crm.example.com/in", "--transform", path]
    with pytest.raises(AssertionError, match=re.escape(reason)):
        add_destination(location, audience_env, *arguments)


def test_a_dispatcher_names_a_transformation_it_cannot_import_and_delivers_the_others(
    receiver: Receiver,
    append: Append,
    delivery_store: DeliveryStore,
    start_dispatcher: Callable[[], tuple[subprocess.Popen[bytes], Path]],
) -> None:
    receiver.start()
    append([track(1), track(2)])
    options = {"url": receiver.url, "secret": "k"}
    policy = DestinationPolicy(max_attempts=2, initial_backoff=0.05, max_backoff=0.1)
    broken = DestinationConfig(
        "broken", "webhook", options, delivery=policy, transform="gone_module:fn"
    )
    delivery_store.add(broken, 0, 0.0)
    delivery_store.add(DestinationConfig("healthy", "webhook", options, delivery=policy), 0, 0.0)

    dispatcher, log_path = start_dispatcher()
    wait_for(lambda: delivery_store.dead_letters("broken"), seconds=60, what="a dead letter")
    wait_for(lambda: delivery_store.stats("healthy").delivered_events == 2, seconds=60)
    dispatcher.send_signal(signal.SIGTERM)
    dispatcher.wait(30)

    log = log_path.read_text()
    assert "destination broken: transform 'gone_module:fn': cannot import gone_module" in log
    assert receiver.message_ids() == ["m-1", "m-2"]
    (dead,) = delivery_store.dead_letters("broken")
    assert dead.seqs == (1, 2)
    assert dead.last_error is not None
    assert "cannot import gone_module" in dead.last_error


def event(seq: int, **fields: object) -> StoredEvent:
    return StoredEvent(seq, "web", {**track(seq), **fields})


def test_a_return_value_other_than_events_with_a_type_and_a_message_id_fails_that_event() -> None:
    transformed = transform_events(lambda message: 42, [event(1)])
    listed = transform_events(lambda message: [message, "x"], [event(2)])
    unserializable = transform_events(lambda message: {**message, "at": {1, 2}}, [event(3)])
    anonymous = transform_events(lambda message: {"type": "track"}, [event(4)])
    expected = "transform failed: TypeError: returned int; expected a dict, a list of dicts or None"
    assert transformed.failed == {1: expected}
    assert list(listed.failed) == [2]
    assert list(unserializable.failed) == [3]
    assert anonymous.failed == {
        4: "transform failed: ValueError: returned an event without a messageId (a non-empty "
        "string)"
    }
    assert transformed.events == listed.events == unserializable.events == anonymous.events == []


def test_a_transformation_gets_its_own_copy_of_each_event() -> None:
    original = event(1)

    def clear(message: dict[str, object]) -> dict[str, object]:
        message.clear()
        message.update(type="track", messageId="m-1")
        return message

    transformed = transform_events(clear, [original])
    assert transformed.events == [StoredEvent(1, "web", {"type": "track", "messageId": "m-1"})]
    assert original.message["messageId"] == "m-1"


def test_a_path_without_a_colon_is_refused_before_any_import() -> None:
    with pytest.raises(ConfigError, match=re.escape("package.module:function")):
        load_transform("os.system")
