"""Adversarial identity graphs in the log delay nobody else for long, and resolve by the rules.

Each graph is the kind a public write key lets anyone send: out-of-order identifies around two
user ids (which once cost quadratic time), a long alias chain, and one anonymous id identified as
thousands of users. Behind each, another person's identify and track must be reflected in their
profile within ``BOUND`` seconds of commit (the benchmark in ``bench/resolution_adversarial.py``
measures the figures; this bound is a generous margin above them).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from audience.resolution import Identifier, Resolver, SqliteProfileStore
from audience.storage.backend import EventStore
from resolution.events import record

BOUND = 20.0
"""Seconds from commit until the other person's profile is up to date, on either store."""

COMMIT = 500
"""Events per commit of the event store, as the collector's group commits hand them over."""

START = datetime(2026, 11, 1, tzinfo=UTC)

Messages = list[dict[str, Any]]


def _message(number: int, moment: datetime, **fields: Any) -> dict[str, Any]:
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return {"messageId": f"adv-{number}", "timestamp": stamp, "receivedAt": stamp, **fields}


def out_of_order_identifies(count: int) -> Messages:
    """``shared`` identified as alice and bob, then identifies each older than all before it."""
    late = START + timedelta(days=30)
    messages = [
        _message(0, late, type="identify", anonymousId="shared", userId="alice"),
        _message(1, late, type="identify", anonymousId="shared", userId="bob"),
    ]
    for number in range(2, count):
        if number % 10 == 0:
            owner = "alice" if number % 20 == 0 else "bob"
            fields = {"anonymousId": "shared", "userId": owner}
        else:
            fields = {"anonymousId": f"visitor-{number}", "userId": "alice"}
        moment = late - timedelta(seconds=number)
        messages.append(_message(number, moment, type="identify", **fields))
    return messages


def alias_chain(count: int) -> Messages:
    """``chain-0`` aliased to ``chain-1``, ``chain-1`` to ``chain-2`` ... in random order."""
    messages = [
        _message(
            number,
            START + timedelta(seconds=number),
            type="alias",
            previousId=f"chain-{number}",
            userId=f"chain-{number + 1}",
        )
        for number in range(count)
    ]
    random.Random(5).shuffle(messages)
    return messages


def shared_anonymous_id(users: int) -> Messages:
    """``kiosk`` identified as ``users`` different user ids, in random order."""
    messages = [
        _message(
            number,
            START + timedelta(seconds=number),
            type="identify",
            anonymousId="kiosk",
            userId=f"user-{number}",
        )
        for number in range(users)
    ]
    random.Random(6).shuffle(messages)
    return messages


def jane() -> Messages:
    """Someone with nothing to do with the graph ahead of her."""
    moment = START + timedelta(days=60)
    return [
        _message(10**9, moment, type="identify", anonymousId="jane-laptop", userId="jane"),
        _message(
            10**9 + 1,
            moment + timedelta(seconds=1),
            type="track",
            anonymousId="jane-laptop",
            userId="jane",
            event="Order Completed",
        ),
    ]


def user(value: str) -> Identifier:
    return Identifier("user_id", value)


def check_out_of_order_identifies(profiles: SqliteProfileStore, messages: Messages) -> None:
    """Merge protection holds: the earliest identify of ``shared`` wins it, alice keeps hers."""
    shared = [m for m in messages if m["anonymousId"] == "shared"]
    winner = min(shared, key=lambda m: m["timestamp"])["userId"]
    loser = "alice" if winner == "bob" else "bob"
    alice, bob = profiles.lookup(user("alice")), profiles.lookup(user("bob"))
    assert alice is not None
    assert bob is not None
    assert alice.id != bob.id
    losing = alice if loser == "alice" else bob
    owner = profiles.lookup(Identifier("anonymous_id", "shared"))
    assert owner is not None
    assert user(winner) in owner.identifiers
    visitors = sum(1 for m in messages if m["anonymousId"].startswith("visitor-"))
    assert alice.identifier_count == 1 + visitors + (winner == "alice")
    refused = [m for m in profiles.merges(losing.id) if m.status == "refused"]
    assert refused
    assert {m.cause for m in refused} == {"different_people"}


def check_alias_chain(profiles: SqliteProfileStore, messages: Messages) -> None:
    """Every user id of the chain is one person; each previousId is a user id, nothing more."""
    person = profiles.lookup(user("chain-0"))
    assert person is not None
    assert person == profiles.lookup(user(f"chain-{len(messages)}"))
    assert person.identifier_count == len(messages) + 1
    assert any(w.kind == "large_profile" for w in profiles.warnings())


def check_shared_anonymous_id(profiles: SqliteProfileStore, messages: Messages) -> None:
    """The kiosk links nobody; every cashier keeps a profile of their own; one warning says so."""
    kiosk = profiles.lookup(Identifier("anonymous_id", "kiosk"))
    assert kiosk is not None
    assert kiosk.identifiers == (Identifier("anonymous_id", "kiosk"),)
    for number in (0, len(messages) // 2, len(messages) - 1):
        cashier = profiles.lookup(user(f"user-{number}"))
        assert cashier is not None
        assert cashier.identifiers == (user(f"user-{number}"),)
    shared = [w for w in profiles.warnings(limit=10**6) if w.kind == "shared_identifier"]
    assert len(shared) == 1
    assert "'kiosk'" in shared[0].detail


GRAPHS: dict[str, tuple[Callable[[], Messages], Callable[[SqliteProfileStore, Messages], None]]] = {
    "out-of-order identifies around two user ids": (
        lambda: out_of_order_identifies(3000),
        check_out_of_order_identifies,
    ),
    "an alias chain": (lambda: alias_chain(1000), check_alias_chain),
    "an anonymous id shared by thousands of users": (
        lambda: shared_anonymous_id(3000),
        check_shared_anonymous_id,
    ),
}


def jane_is_up_to_date(profiles: SqliteProfileStore) -> bool:
    profile = profiles.lookup(user("jane"))
    return (
        profile is not None
        and profile.event_count == 2
        and Identifier("anonymous_id", "jane-laptop") in profile.identifiers
    )


@pytest.mark.parametrize("graph", list(GRAPHS))
def test_another_person_is_up_to_date_soon_after_commit_behind_an_adversarial_graph(
    graph: str, events: EventStore, open_profiles: Callable[[], SqliteProfileStore]
) -> None:
    make, check = GRAPHS[graph]
    messages = make()
    profiles = open_profiles()
    resolver = Resolver(events, profiles)
    events.add_commit_listener(resolver.notify)
    resolver.start()
    try:
        for start in range(0, len(messages), COMMIT):
            chunk = messages[start : start + COMMIT]
            events.append([record(start + i, **m) for i, m in enumerate(chunk)]).result()
        events.append([record(i, **m) for i, m in enumerate(jane())]).result()
        committed = time.monotonic()
        while not jane_is_up_to_date(profiles) and time.monotonic() - committed < BOUND:
            time.sleep(0.02)
        assert jane_is_up_to_date(profiles), f"jane's profile not up to date {BOUND} s after commit"
        assert resolver.wait_for(events.last_seq(), timeout=BOUND)
        check(profiles, messages)
    finally:
        resolver.stop()
        profiles.close()
