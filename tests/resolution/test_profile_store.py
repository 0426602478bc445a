from __future__ import annotations

from collections.abc import Callable

from audience.resolution import Identifier, SqliteProfileStore
from resolution.events import make_event

USER = Identifier("user_id", "user_123")


def anon(value: str) -> Identifier:
    return Identifier("anonymous_id", value)


def seed_journey() -> list:
    """The seed's flow: page, add to cart, identify, checkout, order, reset, page."""
    return [
        make_event(1, "page", anonymous_id="a1", name="Home"),
        make_event(2, anonymous_id="a1", event="Added to Cart"),
        make_event(3, "identify", anonymous_id="a1", user_id="user_123", traits={"name": "Jane"}),
        make_event(4, anonymous_id="a1", user_id="user_123", event="Checkout Started"),
        make_event(5, anonymous_id="a1", user_id="user_123", event="Order Completed"),
        make_event(6, "page", anonymous_id="a2", name="Home"),
    ]


def test_identify_joins_anonymous_and_identified_activity_in_one_profile(
    profile_store: SqliteProfileStore,
) -> None:
    profile_store.apply(seed_journey())
    profile = profile_store.lookup(USER)
    assert profile is not None
    assert set(profile.identifiers) == {USER, anon("a1")}
    assert profile.event_count == 5
    assert profile.traits == {"name": "Jane"}
    assert profile_store.lookup(anon("a1")) == profile
    assert [e.seq for e in profile_store.events(profile.id)] == [1, 2, 3, 4, 5]


def test_the_anonymous_id_after_reset_starts_a_new_anonymous_profile(
    profile_store: SqliteProfileStore,
) -> None:
    profile_store.apply(seed_journey())
    after_reset = profile_store.lookup(anon("a2"))
    assert after_reset is not None
    assert after_reset.identifiers == (anon("a2"),)
    assert after_reset.id != profile_store.lookup(USER).id  # type: ignore[union-attr]
    assert after_reset.event_count == 1


def test_the_next_anonymous_id_joins_the_person_when_they_identify_again(
    profile_store: SqliteProfileStore,
) -> None:
    profile_store.apply(
        [*seed_journey(), make_event(7, "identify", anonymous_id="a2", user_id="user_123")]
    )
    profile = profile_store.lookup(anon("a2"))
    assert profile is not None
    assert set(profile.identifiers) == {USER, anon("a1"), anon("a2")}
    assert profile.event_count == 7


def test_each_event_is_marked_with_the_identifier_that_linked_it(
    profile_store: SqliteProfileStore,
) -> None:
    profile_store.apply(seed_journey())
    profile = profile_store.lookup(USER)
    assert profile is not None
    linked = [(e.seq, e.identifier) for e in profile_store.events(profile.id)]
    assert linked == [(1, anon("a1")), (2, anon("a1")), (3, USER), (4, USER), (5, USER)]


def test_one_anonymous_id_identified_as_two_users_never_welds_the_users(
    profile_store: SqliteProfileStore,
) -> None:
    """Merge protection: the second identify is kept, counted for its user, and warned about."""
    profile_store.apply(
        [
            make_event(1, "page", anonymous_id="shared-ipad"),
            make_event(2, "identify", anonymous_id="shared-ipad", user_id="alice"),
            make_event(3, "identify", anonymous_id="shared-ipad", user_id="bob"),
        ]
    )
    alice = profile_store.lookup(Identifier("user_id", "alice"))
    bob = profile_store.lookup(Identifier("user_id", "bob"))
    assert alice is not None
    assert bob is not None
    assert alice.id != bob.id
    assert anon("shared-ipad") in alice.identifiers
    assert bob.identifiers == (Identifier("user_id", "bob"),)
    assert bob.event_count == 1
    warnings = profile_store.warnings()
    assert [w.kind for w in warnings] == ["merge_refused"]
    assert "bob" in warnings[0].detail
    assert [m.status for m in profile_store.merges(bob.id)] == ["refused"]


def test_the_earliest_identify_wins_a_shared_anonymous_id_whatever_the_arrival_order(
    store_factory: Callable[..., SqliteProfileStore],
) -> None:
    events = [
        make_event(1, "identify", minute=1, anonymous_id="shared", user_id="alice"),
        make_event(2, "identify", minute=2, anonymous_id="shared", user_id="bob"),
    ]
    in_order, reversed_order = store_factory(), store_factory()
    in_order.apply(events)
    reversed_order.apply(
        [make_event(1, "identify", minute=2, anonymous_id="shared", user_id="bob")]
    )
    reversed_order.apply(
        [make_event(2, "identify", minute=1, anonymous_id="shared", user_id="alice")]
    )
    for store in (in_order, reversed_order):
        owner = store.lookup(anon("shared"))
        assert owner is not None
        assert Identifier("user_id", "alice") in owner.identifiers


def test_junk_ids_never_link_anyone(profile_store: SqliteProfileStore) -> None:
    junk = ["null", "undefined", "0", "anonymous", "[object Object]", " ", "'null'", "NaN"]
    profile_store.apply(
        [
            make_event(i + 1, "identify", anonymous_id=value, user_id=f"user-{i}")
            for i, value in enumerate(junk)
        ]
    )
    for i in range(len(junk)):
        profile = profile_store.lookup(Identifier("user_id", f"user-{i}"))
        assert profile is not None
        assert profile.identifiers == (Identifier("user_id", f"user-{i}"),)
    assert {w.kind for w in profile_store.warnings()} == {"junk_id"}


def test_an_event_with_only_junk_ids_is_kept_with_a_warning(
    profile_store: SqliteProfileStore,
) -> None:
    profile_store.apply([make_event(1, user_id="undefined", anonymous_id="null")])
    assert profile_store.search("") == []
    assert profile_store.cursor() == 1
    assert "no_identifier" in {w.kind for w in profile_store.warnings()}


def test_traits_merge_by_event_timestamp_not_arrival(profile_store: SqliteProfileStore) -> None:
    profile_store.apply(
        [
            make_event(1, "identify", minute=10, user_id="u", traits={"plan": "pro"}),
            make_event(2, "identify", minute=5, user_id="u", traits={"plan": "free", "age": 3}),
        ]
    )
    profile = profile_store.lookup(Identifier("user_id", "u"))
    assert profile is not None
    assert profile.traits == {"plan": "pro", "age": 3}


def test_a_trait_set_to_null_by_the_latest_identify_is_removed(
    profile_store: SqliteProfileStore,
) -> None:
    profile_store.apply(
        [
            make_event(1, "identify", user_id="u", traits={"plan": "pro", "name": "Jo"}),
            make_event(2, "identify", user_id="u", traits={"plan": None}),
        ]
    )
    assert profile_store.lookup(Identifier("user_id", "u")).traits == {"name": "Jo"}  # type: ignore[union-attr]


def test_anonymous_traits_join_the_person_with_the_latest_value_winning(
    profile_store: SqliteProfileStore,
) -> None:
    profile_store.apply(
        [
            make_event(1, "identify", anonymous_id="a", traits={"color": "red", "size": "m"}),
            make_event(2, "identify", user_id="u", anonymous_id="a", traits={"color": "blue"}),
            make_event(3, "identify", anonymous_id="a", traits={"size": "l"}),
        ]
    )
    assert profile_store.lookup(anon("a")).traits == {"color": "blue", "size": "l"}  # type: ignore[union-attr]


def test_groups_are_listed_with_their_latest_traits(profile_store: SqliteProfileStore) -> None:
    profile_store.apply(
        [
            make_event(1, "group", user_id="u", groupId="acme", traits={"plan": "team"}),
            make_event(2, "group", anonymous_id="a", groupId="acme", traits={"plan": "enterprise"}),
            make_event(3, "identify", anonymous_id="a", user_id="u"),
        ]
    )
    profile = profile_store.lookup(Identifier("user_id", "u"))
    assert profile is not None
    assert [(g.group_id, g.traits) for g in profile.groups] == [("acme", {"plan": "enterprise"})]


def test_first_and_last_seen_come_from_event_timestamps(profile_store: SqliteProfileStore) -> None:
    profile_store.apply(
        [
            make_event(1, minute=30, anonymous_id="a"),
            make_event(2, minute=10, anonymous_id="a"),
            make_event(3, minute=20, anonymous_id="a"),
        ]
    )
    profile = profile_store.lookup(anon("a"))
    assert profile is not None
    assert profile.first_seen is not None
    assert profile.first_seen.startswith("2026-11-29T12:10")
    assert profile.last_seen is not None
    assert profile.last_seen.startswith("2026-11-29T12:30")


def test_an_alias_chain_forms_one_person_in_any_order(
    store_factory: Callable[..., SqliteProfileStore],
) -> None:
    chain = [
        ("a", "b", 1),
        ("b", "c", 2),
        ("c", "d", 3),
    ]
    for order in ([0, 1, 2], [2, 1, 0], [1, 2, 0]):
        store = store_factory()
        store.apply(
            [
                make_event(
                    seq + 1,
                    "alias",
                    minute=chain[i][2],
                    previousId=chain[i][0],
                    user_id=chain[i][1],
                )
                for seq, i in enumerate(order)
            ]
        )
        profile = store.lookup(Identifier("user_id", "d"))
        assert profile is not None
        users = {i.value for i in profile.identifiers if i.type == "user_id"}
        assert users == {"a", "b", "c", "d"}


def test_alias_from_an_anonymous_id_brings_its_activity_to_the_user(
    profile_store: SqliteProfileStore,
) -> None:
    profile_store.apply(
        [
            make_event(1, "page", anonymous_id="visitor"),
            make_event(2, "alias", previousId="visitor", anonymous_id="visitor", user_id="u"),
        ]
    )
    profile = profile_store.lookup(Identifier("user_id", "u"))
    assert profile is not None
    assert profile.identifiers == (Identifier("user_id", "u"), anon("visitor"))
    assert profile.event_count == 2
    assert [m.kind for m in profile_store.merges(profile.id)] == ["alias"]


def test_alias_from_another_user_id_makes_one_person_and_no_anonymous_id(
    profile_store: SqliteProfileStore,
) -> None:
    """previousId is a user id when it is not the alias message's own anonymousId."""
    profile_store.apply(
        [
            make_event(1, "identify", user_id="old", anonymous_id="a1"),
            make_event(2, "alias", previousId="old", anonymous_id="a1", user_id="new"),
        ]
    )
    profile = profile_store.lookup(Identifier("user_id", "new"))
    assert profile is not None
    assert profile == profile_store.lookup(Identifier("user_id", "old"))
    assert anon("old") not in profile.identifiers
    assert profile.identifier_count == 3


def test_ten_thousand_anonymous_ids_identifying_to_one_user_make_one_profile(
    profile_store: SqliteProfileStore,
) -> None:
    events = []
    for i in range(10_000):
        events.append(make_event(2 * i + 1, "page", anonymous_id=f"anon-{i}"))
        events.append(make_event(2 * i + 2, "identify", anonymous_id=f"anon-{i}", user_id="bot"))
    profile_store.apply(events)
    profile = profile_store.lookup(anon("anon-9999"))
    assert profile is not None
    assert profile.identifier_count == 10_001
    assert profile.event_count == 20_000
    assert profile.identifiers[0] == Identifier("user_id", "bot")
    assert len(profile_store.search("")) == 1
    large = [w for w in profile_store.warnings() if w.kind == "large_profile"]
    assert ["1,000 identifiers" in w.detail for w in large] == [False, True]
    assert "10,000 identifiers" in large[0].detail


def test_applying_the_same_batch_twice_changes_nothing(profile_store: SqliteProfileStore) -> None:
    profile_store.apply(seed_journey())
    before = profile_store.lookup(USER)
    profile_store.apply(seed_journey())
    assert profile_store.lookup(USER) == before
    assert profile_store.cursor() == 6


def test_a_reopened_store_resumes_from_its_cursor(tmp_path) -> None:  # type: ignore[no-untyped-def]
    first = SqliteProfileStore.in_directory(tmp_path)
    first.apply(seed_journey()[:3])
    first.close()
    second = SqliteProfileStore.in_directory(tmp_path)
    try:
        assert second.cursor() == 3
        second.apply(seed_journey())
        assert second.lookup(USER).event_count == 5  # type: ignore[union-attr]
    finally:
        second.close()


def test_a_profile_keeps_answering_to_the_id_it_had_before_a_merge(
    profile_store: SqliteProfileStore,
) -> None:
    profile_store.apply([make_event(1, "page", anonymous_id="a1")])
    anonymous_profile_id = profile_store.lookup(anon("a1")).id  # type: ignore[union-attr]
    profile_store.apply([make_event(2, "identify", anonymous_id="a1", user_id="user_123")])
    merged = profile_store.get(anonymous_profile_id)
    assert merged is not None
    assert merged.id == profile_store.lookup(USER).id  # type: ignore[union-attr]


def test_search_finds_profiles_by_identifier_or_trait_value(
    profile_store: SqliteProfileStore,
) -> None:
    profile_store.apply(
        [
            make_event(1, "identify", user_id="jane-1", traits={"email": "jane@example.com"}),
            make_event(2, "identify", user_id="bob-2", traits={"city": "Lisbon"}),
        ]
    )
    assert [p.identifiers[0].value for p in profile_store.search("jane@")] == ["jane-1"]
    assert [p.identifiers[0].value for p in profile_store.search("lisbon")] == ["bob-2"]
    assert [p.identifiers[0].value for p in profile_store.search("bob-2")] == ["bob-2"]
    assert len(profile_store.search("", limit=1)) == 1


def test_email_links_profiles_only_when_enabled(
    store_factory: Callable[..., SqliteProfileStore],
) -> None:
    events = [
        make_event(1, "identify", anonymous_id="laptop", traits={"email": "Jo@Example.com"}),
        make_event(2, "identify", user_id="jo", traits={"email": "jo@example.com"}),
    ]
    linked, plain = store_factory(link_email=True), store_factory()
    linked.apply(events)
    plain.apply(events)
    profile = linked.lookup(Identifier("email", "jo@example.com"))
    assert profile is not None
    assert anon("laptop") in profile.identifiers
    assert Identifier("user_id", "jo") in profile.identifiers
    assert plain.lookup(anon("laptop")) != plain.lookup(Identifier("user_id", "jo"))


def test_a_shared_email_does_not_weld_two_users(
    store_factory: Callable[..., SqliteProfileStore],
) -> None:
    store = store_factory(link_email=True)
    store.apply(
        [
            make_event(1, "identify", user_id="ann", traits={"email": "team@acme.com"}),
            make_event(2, "identify", user_id="ben", traits={"email": "team@acme.com"}),
        ]
    )
    assert store.lookup(Identifier("user_id", "ann")) != store.lookup(Identifier("user_id", "ben"))
    assert [w.kind for w in store.warnings()] == ["merge_refused"]
