from __future__ import annotations

import random
from collections.abc import Callable
from contextlib import closing
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audience.eventlog import StoredEvent
from audience.identity.graph import (
    Limits,
    OperatorAction,
    action_order_key,
    identity_of,
    resolve_components,
)
from audience.resolution import Identifier, SqliteProfileStore
from resolution.events import at, make_event

ANONYMOUS = ["a1", "a2", "a3", "a4", "null"]
USERS = ["u1", "u2", "u3", None]


@st.composite
def messages(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Events over a few ids, with colliding timestamps, shared ids, aliases and junk."""
    count = draw(st.integers(min_value=1, max_value=14))
    result = []
    for index in range(count):
        type_ = draw(st.sampled_from(["identify", "identify", "track", "page", "alias", "group"]))
        fields: dict[str, Any] = {"minute": draw(st.integers(min_value=0, max_value=5))}
        user = draw(st.sampled_from(USERS))
        anonymous = draw(st.sampled_from(ANONYMOUS))
        if type_ == "alias":
            user = user or "u1"
            fields["previousId"] = draw(st.sampled_from(["a1", "a2", "u1", "u2", "u3"]))
        elif user is None and anonymous == "null":
            anonymous = "a1"
        if type_ == "identify":
            fields["traits"] = {
                draw(st.sampled_from(["plan", "name", "email"])): draw(
                    st.sampled_from(["x", "y", None, "p@example.com", "q@example.com"])
                )
            }
        if type_ == "group":
            fields["groupId"] = draw(st.sampled_from(["g1", "g2"]))
            fields["traits"] = {"size": draw(st.integers(min_value=1, max_value=3))}
        result.append(
            {"type_": type_, "user_id": user, "anonymous_id": anonymous, "index": index, **fields}
        )
    return result


def stored(spec: list[dict[str, Any]], order: list[int]) -> list[StoredEvent]:
    """The events of ``spec`` arriving in ``order``: seq is arrival, the messages are unchanged."""
    events = []
    for seq, position in enumerate(order, start=1):
        fields = dict(spec[position])
        index = fields.pop("index")
        event = make_event(seq, **fields)
        event.message["messageId"] = f"m-{index}"
        events.append(event)
    return events


def snapshot(store: SqliteProfileStore) -> tuple[Any, ...]:
    profiles = sorted(
        (
            p.id,
            tuple(p.identifiers),
            sorted(p.traits.items()),
            tuple((g.group_id, sorted(g.traits.items())) for g in p.groups),
            p.first_seen,
            p.last_seen,
            p.event_count,
        )
        for p in store.search("", limit=1000)
    )
    warnings = store.warnings(limit=1000)
    refused = sorted(w.detail for w in warnings if w.kind == "merge_refused")
    shared = sorted(w.detail for w in warnings if w.kind == "shared_identifier")
    return (profiles, refused, shared)


def by_the_rule(
    events: list[StoredEvent],
    link_email: bool,
    limits: Limits,
    actions: list[OperatorAction] | None = None,
) -> list[frozenset[Identifier]]:
    """The profiles :func:`resolve_components` gives for the whole set of events (and operator
    actions) at once."""
    identities = [identity_of(e.message, link_email=link_email) for e in events]
    links = [link for identity in identities for link in identity.links]
    named = {i for identity in identities for i in identity.identifiers}
    return sorted(
        (c for c in resolve_components(named, links, limits, actions or []).components()),
        key=lambda c: sorted(c),
    )


NAMED = [Identifier("user_id", u) for u in USERS if u] + [
    Identifier("anonymous_id", a) for a in ANONYMOUS if a != "null"
]


@st.composite
def operator_actions(draw: st.DrawFn) -> list[OperatorAction]:
    """Merges of two identifiers and splits of one, at minutes among the events' minutes."""
    actions = []
    for number in range(draw(st.integers(min_value=0, max_value=4))):
        moment = at(draw(st.sampled_from([0, 2, 4, 6])))
        action_id = f"op-{number}"
        key = action_order_key(moment, action_id)
        first = draw(st.sampled_from(NAMED))
        if draw(st.booleans()):
            second = draw(st.sampled_from([i for i in NAMED if i != first]))
            actions.append(OperatorAction("merge", first, second, key, action_id, "ops", "test"))
        else:
            actions.append(OperatorAction("split", first, None, key, action_id, "ops", "test"))
    return actions


def stored_profiles(store: SqliteProfileStore) -> list[frozenset[Identifier]]:
    return sorted(
        (frozenset(p.identifiers) for p in store.search("", limit=1000)), key=lambda c: sorted(c)
    )


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(spec=messages(), data=st.data())
def test_any_permutation_of_the_same_events_gives_the_same_profiles(
    store_factory: Callable[..., SqliteProfileStore],
    spec: list[dict[str, Any]],
    data: st.DataObject,
) -> None:
    """Also with the caps and the weekly limits small enough to bite: they are functions of the
    set of events too."""
    order = data.draw(st.permutations(range(len(spec))))
    cut = data.draw(st.integers(min_value=0, max_value=len(spec)))
    link_email = data.draw(st.booleans())
    limits = Limits(
        shared_after=data.draw(st.sampled_from([1, 2, 10])),
        unit_links=data.draw(st.sampled_from([2, 3, 1000])),
        weekly_anonymous_ids=data.draw(st.sampled_from([0, 1, 2])),
        weekly_emails=data.draw(st.sampled_from([0, 1])),
    )
    with (
        closing(store_factory(link_email=link_email, limits=limits)) as reference,
        closing(store_factory(link_email=link_email, limits=limits)) as shuffled,
    ):
        in_order = stored(spec, list(range(len(spec))))
        reference.apply(in_order)
        events = stored(spec, order)
        shuffled.apply(events[:cut])
        for event in events[cut:]:
            shuffled.apply([event])
        assert snapshot(shuffled) == snapshot(reference)
        assert stored_profiles(shuffled) == by_the_rule(in_order, link_email, limits)


def catch_up(store: SqliteProfileStore, log: list[StoredEvent]) -> None:
    """Apply what the store has not applied yet (all of it again after a split)."""
    store.apply([event for event in log if event.seq > store.cursor()])


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(spec=messages(), actions=operator_actions(), data=st.data())
def test_any_permutation_of_events_and_operator_actions_gives_the_same_profiles(
    store_factory: Callable[..., SqliteProfileStore],
    spec: list[dict[str, Any]],
    actions: list[OperatorAction],
    data: st.DataObject,
) -> None:
    """Merges and splits recorded at any point among the events, in any order, under caps
    small enough to bite: the profiles are those of the rule over the whole set."""
    order = data.draw(st.permutations(range(len(spec))))
    shuffled_actions = data.draw(st.permutations(actions))
    moments = sorted(
        data.draw(st.integers(min_value=0, max_value=len(spec))) for _ in shuffled_actions
    )
    link_email = data.draw(st.booleans())
    limits = Limits(
        shared_after=data.draw(st.sampled_from([1, 2, 10])),
        unit_links=data.draw(st.sampled_from([2, 3, 1000])),
        weekly_anonymous_ids=data.draw(st.sampled_from([0, 1, 2])),
        weekly_emails=data.draw(st.sampled_from([0, 1])),
    )
    with (
        closing(store_factory(link_email=link_email, limits=limits)) as reference,
        closing(store_factory(link_email=link_email, limits=limits)) as shuffled,
    ):
        in_order = stored(spec, list(range(len(spec))))
        reference.apply(in_order)
        for action in actions:
            reference.record_action(action)
            catch_up(reference, in_order)
        events = stored(spec, order)
        arrived = 0
        for action, moment in zip(shuffled_actions, moments, strict=True):
            arrived = max(arrived, moment)
            catch_up(shuffled, events[:arrived])
            shuffled.record_action(action)
        catch_up(shuffled, events)
        assert snapshot(shuffled) == snapshot(reference)
        expected = by_the_rule(in_order, link_email, limits, actions)
        assert stored_profiles(shuffled) == expected


def test_ten_thousand_anonymous_ids_arriving_out_of_order_still_make_one_profile(
    profile_store: SqliteProfileStore,
) -> None:
    spec = []
    for i in range(10_000):
        spec.append({"type_": "page", "anonymous_id": f"anon-{i}", "index": 2 * i})
        spec.append(
            {"type_": "identify", "anonymous_id": f"anon-{i}", "user_id": "bot", "index": 2 * i + 1}
        )
    order = list(range(len(spec)))
    random.Random(7).shuffle(order)
    events = stored(spec, order)
    for start in range(0, len(events), 500):
        profile_store.apply(events[start : start + 500])
    profile = profile_store.lookup(Identifier("user_id", "bot"))
    assert profile is not None
    assert profile.identifier_count == 10_001
    assert profile.event_count == 20_000


def test_a_late_identify_moves_a_shared_anonymous_id_to_its_first_user(
    profile_store: SqliteProfileStore,
) -> None:
    """Out of order: bob's identify came first, alice's earlier identify arrives later."""
    profile_store.apply(
        [
            make_event(1, "page", minute=0, anonymous_id="shared"),
            make_event(2, "identify", minute=20, anonymous_id="shared", user_id="bob"),
            make_event(3, minute=21, anonymous_id="shared", user_id="bob"),
        ]
    )
    assert (
        Identifier("anonymous_id", "shared")
        in profile_store.lookup(  # type: ignore[union-attr]
            Identifier("user_id", "bob")
        ).identifiers
    )
    profile_store.apply(
        [make_event(4, "identify", minute=10, anonymous_id="shared", user_id="alice")]
    )
    alice = profile_store.lookup(Identifier("user_id", "alice"))
    bob = profile_store.lookup(Identifier("user_id", "bob"))
    assert alice is not None
    assert bob is not None
    assert Identifier("anonymous_id", "shared") in alice.identifiers
    assert bob.identifiers == (Identifier("user_id", "bob"),)
    assert alice.event_count == 2
    assert bob.event_count == 2
