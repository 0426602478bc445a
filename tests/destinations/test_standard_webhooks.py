"""Webhooks signed with the Standard Webhooks scheme, verified by its reference library."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import pytest
import standardwebhooks
from click.testing import CliRunner

from audience.cli import main
from audience.clock import Clock, SystemClock
from audience.destinations.base import DestinationConfig, DestinationPolicy
from audience.destinations.delivery_store import DeliveryStore
from audience.destinations.dispatcher import Dispatcher
from audience.destinations.rotation import rotated
from audience.destinations.standard_webhooks import secret_of, signing_key, verify
from audience.destinations.webhook import verify_signature
from audience.errors import ConfigError
from audience.storage.backend import EventStore
from audience.testing import FakeClock
from support import Received, Receiver

from .conftest import Append, track

SECRET = secret_of(b"a key of thirty-two bytes, exact")
NEWER = secret_of(b"the key that replaces the old one")


def hook(url: str, secret: str = SECRET, **delivery: object) -> DestinationConfig:
    policy = DestinationPolicy(**delivery)  # type: ignore[arg-type]
    return DestinationConfig("hook", "webhook", {"url": url, "secret": secret}, delivery=policy)


def deliver_all(events: EventStore, store: DeliveryStore, clock: Clock) -> None:
    dispatcher = Dispatcher(events, store, clock)
    try:
        while dispatcher.step():
            pass
    finally:
        dispatcher.close()


def standard_library_accepts(secret: str, request: Received) -> bool:
    try:
        standardwebhooks.Webhook(secret).verify(request.body, request.headers)
    except standardwebhooks.WebhookVerificationError:
        return False
    return True


def test_a_delivered_batch_verifies_with_the_standard_webhooks_reference_library(
    receiver: Receiver, append: Append, event_store: EventStore, delivery_store: DeliveryStore
) -> None:
    receiver.start()
    append([track(1), track(2)])
    delivery_store.add(hook(receiver.url), 0, 0.0)

    deliver_all(event_store, delivery_store, SystemClock())

    (request,) = receiver.requests
    assert standard_library_accepts(SECRET, request)
    assert not standard_library_accepts(NEWER, request)
    assert request.headers["webhook-id"] == request.headers["X-Audience-Batch"]
    assert request.headers["webhook-timestamp"] == request.headers["X-Audience-Timestamp"]
    timestamp = request.headers["X-Audience-Timestamp"]
    legacy = request.headers["X-Audience-Signature"]
    assert verify_signature(SECRET, request.body, timestamp, legacy, now=float(timestamp))


def test_the_signature_is_base64_hmac_sha256_of_id_timestamp_and_body_keyed_by_the_secret_bytes(
    receiver: Receiver, append: Append, event_store: EventStore, delivery_store: DeliveryStore
) -> None:
    """The scheme written out by hand, independently of audience's and the library's code."""
    receiver.start()
    append([track(1)])
    delivery_store.add(hook(receiver.url), 0, 0.0)

    deliver_all(event_store, delivery_store, FakeClock())

    (request,) = receiver.requests
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    signed = f"{request.headers['webhook-id']}.{request.headers['webhook-timestamp']}.".encode()
    digest = hmac.new(key, signed + request.body, hashlib.sha256).digest()
    assert request.headers["webhook-signature"] == "v1," + base64.b64encode(digest).decode()
    assert request.headers["webhook-timestamp"] == str(int(FakeClock().now().timestamp()))


def test_a_secret_not_in_the_whsec_form_is_read_as_the_reference_libraries_read_it() -> None:
    assert signing_key(SECRET) == b"a key of thirty-two bytes, exact"
    assert signing_key("c2VjcmV0") == b"secret"  # base64 without the prefix
    assert signing_key("k") == b"k"  # not base64 at all: its UTF-8 bytes


def test_during_a_rotation_both_secrets_sign_and_afterwards_only_the_new_one(
    receiver: Receiver, append: Append, event_store: EventStore, delivery_store: DeliveryStore
) -> None:
    receiver.start()
    clock = FakeClock()
    now = clock.now().timestamp()
    config = rotated(hook(receiver.url), NEWER, now, overlap=3600)
    delivery_store.add(config, 0, 0.0)
    append([track(1)])
    deliver_all(event_store, delivery_store, clock)
    clock.advance(3601)
    append([track(2)])
    deliver_all(event_store, delivery_store, clock)

    during, after = receiver.requests
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    for secret in (NEWER, SECRET):
        sent_at = float(during.headers["webhook-timestamp"])
        assert verify(secret, during.body, during.headers, now=sent_at)
        legacy = during.headers["X-Audience-Signature"]
        assert verify_signature(secret, during.body, str(int(sent_at)), legacy, now=sent_at)
    sent_at = float(after.headers["webhook-timestamp"])
    assert verify(NEWER, after.body, after.headers, now=sent_at)
    assert not verify(SECRET, after.body, after.headers, now=sent_at)
    assert " " not in after.headers["webhook-signature"]


def test_a_receiver_rejects_a_stale_timestamp_a_changed_body_or_a_missing_header() -> None:
    body = b'{"batch":[]}'
    signed = standardwebhooks.Webhook(SECRET).sign("hook-1", FakeClock().now(), body.decode())
    now = FakeClock().now().timestamp()
    headers = {"webhook-id": "hook-1", "webhook-timestamp": str(int(now))}
    headers["webhook-signature"] = signed
    assert verify(SECRET, body, headers, now=now + 299)
    assert not verify(SECRET, body, headers, now=now + 301)
    assert not verify(SECRET, b'{"batch":[1]}', headers, now=now)
    assert not verify(SECRET, body, {**headers, "webhook-signature": ""}, now=now)
    assert not verify(SECRET, body, {"webhook-timestamp": str(int(now))}, now=now)


def run(location: list[str], *arguments: str) -> list[str]:
    result = CliRunner().invoke(main, ["destinations", *arguments, *location])
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


def test_rotate_secret_prints_the_new_secret_once_and_keeps_the_cursor_and_dead_letters(
    location: list[str], append: Append, delivery_store: DeliveryStore
) -> None:
    """The rotation changes the settings only: where the destination stands stays put."""
    append([track(1), track(2)])
    added = run(location, "add", "crm", "--webhook", "http://127.0.0.1:9/in")
    old = added[-1].removeprefix("signing secret (shown once): ")
    delivery_store.claim("crm", 0, 2, [1, 2], 10.0)
    (batch,) = [b for b in [delivery_store.next_batch("crm")] if b is not None]
    delivery_store.failed(batch, "down", 10.0, 10.0, dead=True)

    printed = run(location, "rotate-secret", "crm", "--overlap", "2")

    new = printed[-1].removeprefix("signing secret (shown once): ")
    assert new.startswith("whsec_")
    assert new != old
    assert "signs with the new and the old secret until" in printed[0]
    options = delivery_store.config("crm").options
    assert options["secret"] == new
    assert options["previous_secret"] == old
    assert delivery_store.cursor("crm") == 2
    assert [b.seqs for b in delivery_store.dead_letters("crm")] == [(1, 2)]
    listed = json.loads(
        CliRunner().invoke(main, ["destinations", "list", "--json", *location]).output
    )
    assert listed[0]["options"]["secret"] == listed[0]["options"]["previous_secret"] == "***"
    assert new not in json.dumps(listed)


def test_rotate_secret_with_no_overlap_drops_the_old_secret_at_once(
    location: list[str], delivery_store: DeliveryStore
) -> None:
    run(location, "add", "crm", "--webhook", "http://127.0.0.1:9/in", "--secret", SECRET)
    printed = run(location, "rotate-secret", "crm", "--overlap", "0", "--secret", NEWER)
    assert printed == ["crm signs with the new secret only"]
    options = delivery_store.config("crm").options
    assert options["secret"] == NEWER
    assert "previous_secret" not in options


def test_rotate_secret_refuses_a_destination_that_does_not_sign(
    location: list[str], tmp_path: Path
) -> None:
    run(location, "add", "lake", "--duckdb", str(tmp_path / "w.duckdb"))
    result = CliRunner().invoke(main, ["destinations", "rotate-secret", "lake", *location])
    assert result.exit_code == 2
    assert "only webhooks sign" in result.output
    unknown = CliRunner().invoke(main, ["destinations", "rotate-secret", "nope", *location])
    assert unknown.exit_code == 2
    assert "no destination is named 'nope'" in unknown.output


def test_a_rotation_needs_a_secret_and_a_non_negative_overlap() -> None:
    with pytest.raises(ConfigError, match="cannot be empty"):
        rotated(hook("http://a"), "", 0.0, 0.0)
    with pytest.raises(ConfigError, match="cannot be negative"):
        rotated(hook("http://a"), NEWER, 0.0, -1.0)


@pytest.fixture
def failing_receiver(receiver: Receiver) -> Receiver:
    receiver.answers = [503, 503]
    receiver.start()
    return receiver


@pytest.mark.parametrize(("draw", "wait"), [(0.0, 2.0), (0.5, 3.0), (1.0, 4.0)])
def test_a_webhook_retry_waits_between_half_and_all_of_its_backoff_by_the_random_draw(
    failing_receiver: Receiver,
    append: Append,
    event_store: EventStore,
    delivery_store: DeliveryStore,
    draw: float,
    wait: float,
) -> None:
    clock = FakeClock()
    append([track(1)])
    config = hook(failing_receiver.url, initial_backoff=4.0, max_backoff=60.0, jitter="equal")
    delivery_store.add(config, 0, 0.0)
    dispatcher = Dispatcher(event_store, delivery_store, clock, draw=lambda: draw)
    try:
        dispatcher.step()
    finally:
        dispatcher.close()
    batch = delivery_store.next_batch("hook")
    assert batch is not None
    assert batch.next_attempt_at == clock.now().timestamp() + wait


def test_destinations_add_spreads_the_retries_of_webhooks_and_relays_but_not_of_warehouses(
    location: list[str], tmp_path: Path
) -> None:
    run(location, "add", "crm", "--webhook", "http://127.0.0.1:9/in")
    run(location, "add", "seg", "--relay", "segment", "--relay-key", "k")
    run(location, "add", "lake", "--duckdb", str(tmp_path / "w.duckdb"))
    listed = CliRunner().invoke(main, ["destinations", "list", "--json", *location]).output
    jitters = {config["name"]: config["delivery"]["jitter"] for config in json.loads(listed)}
    assert jitters == {"crm": "equal", "seg": "equal", "lake": "none"}
