from __future__ import annotations

from audience.identity.graph import (
    Limits,
    Link,
    Resolution,
    edge_kind,
    identity_of,
    order_key,
    resolve_components,
)
from audience.identity.identifiers import Identifier

U1 = Identifier("user_id", "u1")
U2 = Identifier("user_id", "u2")
A = Identifier("anonymous_id", "a")
B = Identifier("anonymous_id", "b")


def link(a: Identifier, b: Identifier, minute: int, kind: str = "identify") -> Link:
    return Link(a, b, kind, f"2026-11-29T10:{minute:02d}", f"m{minute}")  # type: ignore[arg-type]


def test_identify_with_both_ids_links_the_anonymous_id_to_the_user() -> None:
    identity = identity_of(
        {"type": "identify", "userId": "u1", "anonymousId": "a", "traits": {"plan": "pro"}}
    )
    assert identity.identifier == U1
    assert [(x.a, x.b, x.kind) for x in identity.links] == [(A, U1, "identify")]
    assert identity.traits == {"plan": "pro"}


def test_a_track_with_both_ids_counts_for_the_user_and_links_nothing() -> None:
    identity = identity_of({"type": "track", "userId": "u1", "anonymousId": "a", "event": "X"})
    assert identity.identifier == U1
    assert identity.links == ()


def test_identify_traits_fall_back_to_context_traits() -> None:
    identity = identity_of(
        {"type": "identify", "userId": "u1", "context": {"traits": {"name": "Ann"}}}
    )
    assert identity.traits == {"name": "Ann"}


def test_junk_ids_are_reported_and_never_linked() -> None:
    identity = identity_of({"type": "identify", "userId": "u1", "anonymousId": "undefined"})
    assert identity.links == ()
    assert [(j.field, j.value) for j in identity.junk] == [("anonymousId", "undefined")]


def test_an_alias_previous_id_that_is_not_the_message_anonymous_id_is_a_user_id() -> None:
    """A server renaming a user sends the old user id, with or without an anonymous id."""
    for message in (
        {"type": "alias", "userId": "u2", "previousId": "u1"},
        {"type": "alias", "userId": "u2", "previousId": "u1", "anonymousId": "a1"},
    ):
        identity = identity_of(message)
        assert [(x.a, x.b) for x in identity.links] == [(U1, U2)]
        assert Identifier("anonymous_id", "u1") not in identity.identifiers


def test_an_alias_previous_id_equal_to_the_message_anonymous_id_is_that_anonymous_id() -> None:
    """A browser aliasing a visitor who never identified sends its anonymous id as both."""
    identity = identity_of({"type": "alias", "userId": "u2", "previousId": "a", "anonymousId": "a"})
    assert [(x.a, x.b, x.kind) for x in identity.links] == [(A, U2, "alias")]
    assert Identifier("user_id", "a") not in identity.identifiers


def test_the_order_key_compares_instants_then_message_ids() -> None:
    utc = order_key({"timestamp": "2026-11-29T10:00:00Z", "messageId": "b"})
    offset = order_key({"timestamp": "2026-11-29T11:00:00+01:00", "messageId": "a"})
    later = order_key({"timestamp": "2026-11-29T10:00:01Z", "messageId": "a"})
    assert utc[1] == offset[1] == "2026-11-29T10:00:00.000Z"
    assert offset[0] < utc[0] < later[0]


def test_components_refuse_a_link_between_two_users_and_the_earlier_link_wins() -> None:
    result = resolve_components([], [link(B, U2, 3), link(A, U2, 2), link(A, U1, 1)])
    components = sorted(sorted(c) for c in result.components())
    assert components == [[A, U1], [B, U2]]
    assert result.statuses == ("joined", "refused", "joined")


def test_a_user_to_user_alias_makes_both_user_ids_one_person() -> None:
    result = resolve_components(
        [], [link(A, U1, 1), link(B, U2, 2), link(U1, U2, 3, "alias"), link(A, U2, 4)]
    )
    assert len(result.components()) == 1


E = Identifier("email", "jo@example.com")
U3 = Identifier("user_id", "u3")


def profiles(result: Resolution) -> set[frozenset[Identifier]]:
    return set(result.components())


def test_an_anonymous_id_linked_to_too_many_user_ids_is_shared_and_links_nobody() -> None:
    """A shared device or test account: past the limit it belongs to nobody."""
    result = resolve_components(
        [], [link(A, U1, 1), link(A, U2, 2), link(A, U3, 3)], Limits(shared_after=2)
    )
    assert profiles(result) == {frozenset({A}), frozenset({U1}), frozenset({U2}), frozenset({U3})}
    assert result.shared == {A}
    assert result.statuses == ("refused", "refused", "refused")


def test_up_to_the_limit_an_anonymous_id_goes_to_its_earliest_user() -> None:
    result = resolve_components([], [link(A, U2, 2), link(A, U1, 1)], Limits(shared_after=2))
    assert profiles(result) == {frozenset({A, U1}), frozenset({U2})}
    assert result.shared == frozenset()


def test_a_unit_over_its_link_limit_no_longer_joins_by_email_links() -> None:
    """Each anonymous id and email of a unit over its cap keeps only its own user ids."""
    links = [link(A, E, 1), link(B, E, 2), link(E, U1, 3)]
    within = resolve_components([], links, Limits(unit_links=3))
    over = resolve_components([], links, Limits(unit_links=2))
    assert profiles(within) == {frozenset({E, U1, A, B})}
    assert profiles(over) == {frozenset({E, U1}), frozenset({A}), frozenset({B})}
    assert over.statuses == ("refused", "refused", "joined")


def test_an_alias_joining_two_people_changes_no_other_decision() -> None:
    """Each person acts as one node: joining two people only joins their profiles."""
    links = [link(A, U1, 1), link(A, E, 2), link(E, U2, 3), link(B, U3, 0), link(B, E, 4)]
    apart = resolve_components([], links)
    joined = resolve_components([], [*links, link(U1, U2, 5, "alias")])
    assert profiles(apart) == {frozenset({E, U1, A}), frozenset({U2}), frozenset({B, U3})}
    assert profiles(joined) == {frozenset({E, U1, U2, A}), frozenset({B, U3})}


def test_each_link_kind_says_what_the_link_can_do() -> None:
    assert edge_kind(U1, U2) == "alias"
    assert edge_kind(A, U1) == edge_kind(U1, E) == "claim"
    assert edge_kind(A, E) == "email"
