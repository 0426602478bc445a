"""A user id's weekly limits on the anonymous ids and emails it claims (Segment's limits)."""

from __future__ import annotations

import itertools

import pytest

from audience.errors import ConfigError
from audience.identity.graph import Limits, Link, resolve_components, week_of
from audience.identity.identifiers import Identifier

U1 = Identifier("user_id", "u1")
U2 = Identifier("user_id", "u2")
ANON = [Identifier("anonymous_id", f"a{n}") for n in range(4)]


def claim(anonymous: Identifier, user: Identifier, day: int, hour: int = 0) -> Link:
    at = f"2026-11-{day:02d}T{hour:02d}:00:00.000Z"
    return Link(anonymous, user, "identify", at, f"m-{anonymous.value}-{day}-{hour}")


def profiles(links: list[Link], limits: Limits) -> set[frozenset[Identifier]]:
    return set(resolve_components([], links, limits).components())


def test_weeks_run_monday_to_monday_in_utc() -> None:
    assert week_of("2026-11-29T23:59:59.999Z") == ("2026-11-23", "2026-11-30")
    assert week_of("2026-11-30T00:00:00.000Z") == ("2026-11-30", "2026-12-07")
    assert week_of("9999-12-31T00:00:00.000Z")[1] > "9999-12-31T"


def test_past_the_limit_the_anonymous_id_is_not_linked_and_the_first_of_the_week_are() -> None:
    """2026-11-23 is a Monday: three claims that week, one the next."""
    links = [claim(ANON[0], U1, 23), claim(ANON[1], U1, 24), claim(ANON[2], U1, 25)]
    links.append(claim(ANON[3], U1, 30))
    limits = Limits(weekly_anonymous_ids=2)
    assert profiles(links, limits) == {
        frozenset({U1, ANON[0], ANON[1], ANON[3]}),
        frozenset({ANON[2]}),
    }
    for shuffled in itertools.permutations(links):
        assert profiles(list(shuffled), limits) == profiles(links, limits)


def test_each_user_id_has_its_own_limit_and_a_later_claim_elsewhere_still_joins() -> None:
    links = [claim(ANON[0], U1, 23), claim(ANON[1], U1, 24), claim(ANON[1], U2, 24, 1)]
    limits = Limits(weekly_anonymous_ids=1)
    assert profiles(links, limits) == {frozenset({U1, ANON[0]}), frozenset({U2, ANON[1]})}


def test_zero_means_no_limit_and_a_negative_limit_is_refused() -> None:
    links = [claim(a, U1, 23, n) for n, a in enumerate(ANON)]
    assert profiles(links, Limits()) == {frozenset({U1, *ANON})}
    with pytest.raises(ConfigError):
        Limits(weekly_anonymous_ids=-1)
