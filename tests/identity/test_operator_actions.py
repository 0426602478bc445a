"""Operator merges and splits as inputs of the identity rule."""

from __future__ import annotations

import itertools

import pytest

from audience.errors import ValidationError
from audience.identity.graph import (
    Link,
    OperatorAction,
    action_order_key,
    effective_links,
    resolve_components,
)
from audience.identity.identifiers import Identifier

U1 = Identifier("user_id", "u1")
U2 = Identifier("user_id", "u2")
A = Identifier("anonymous_id", "a")
B = Identifier("anonymous_id", "b")


def link(a: Identifier, b: Identifier, minute: int) -> Link:
    return Link(a, b, "identify", f"2026-11-29T10:{minute:02d}:00.000Z", f"m{minute}")


def merge(a: Identifier, b: Identifier, minute: int) -> OperatorAction:
    at = f"2026-11-29T10:{minute:02d}:00.000Z"
    return OperatorAction("merge", a, b, action_order_key(at, f"op-{minute}"), f"op-{minute}")


def split(a: Identifier, minute: int) -> OperatorAction:
    at = f"2026-11-29T10:{minute:02d}:00.000Z"
    return OperatorAction("split", a, None, action_order_key(at, f"op-{minute}"), f"op-{minute}")


def profiles(links: list[Link], actions: list[OperatorAction]) -> set[frozenset[Identifier]]:
    return set(resolve_components([], links, actions=actions).components())


def test_a_merge_joins_two_people_that_merge_protection_kept_apart() -> None:
    links = [link(A, U1, 1), link(A, U2, 2)]
    assert profiles(links, []) == {frozenset({U1, A}), frozenset({U2})}
    assert profiles(links, [merge(U1, U2, 3)]) == {frozenset({U1, U2, A})}


def test_a_merge_makes_one_person_so_later_claims_by_either_user_join() -> None:
    links = [link(A, U1, 1), link(B, U2, 5), link(B, U1, 6)]
    assert profiles(links, [merge(U1, U2, 3)]) == {frozenset({U1, U2, A, B})}


def test_a_split_takes_the_identifier_out_with_only_its_later_links() -> None:
    """Links before the split are dropped; an identify after it links the identifier again."""
    links = [link(A, U1, 1), link(B, U1, 2)]
    assert profiles(links, [split(A, 3)]) == {frozenset({U1, B}), frozenset({A})}
    assert profiles([*links, link(A, U1, 4)], [split(A, 3)]) == {frozenset({U1, A, B})}


def test_a_split_of_a_user_id_undoes_the_merge_before_it() -> None:
    links = [link(A, U1, 0), link(B, U2, 0)]
    merged_then_split = [merge(U1, U2, 1), split(U2, 2)]
    assert profiles(links, merged_then_split) == {
        frozenset({U1, A}),
        frozenset({U2}),
        frozenset({B}),
    }
    split_then_merged = [split(U2, 1), merge(U1, U2, 2)]
    assert profiles(links, split_then_merged) == {frozenset({U1, U2, A}), frozenset({B})}


def test_the_order_of_links_and_actions_does_not_matter() -> None:
    links = [link(A, U1, 1), link(A, U2, 2), link(B, U2, 4), link(B, U1, 7)]
    actions = [merge(U1, U2, 3), split(A, 5), split(U2, 6)]
    expected = profiles(links, actions)
    for shuffled_links in itertools.permutations(links):
        for shuffled_actions in itertools.permutations(actions):
            assert profiles(list(shuffled_links), list(shuffled_actions)) == expected


def test_effective_links_are_the_event_links_and_the_merges_less_what_splits_drop() -> None:
    kept = effective_links([link(A, U1, 1), link(B, U1, 4)], [merge(U1, U2, 2), split(A, 3)])
    assert [(x.a, x.b, x.kind) for x in kept] == [(B, U1, "identify"), (U1, U2, "merge")]


def test_a_merge_names_two_identifiers_and_a_split_one() -> None:
    with pytest.raises(ValidationError):
        OperatorAction("merge", U1, None, "k", "op-1")
    with pytest.raises(ValidationError):
        OperatorAction("split", U1, U2, "k", "op-1")
