"""How long a destination's failed batches wait, and when they are dead-lettered."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audience.destinations.base import DestinationPolicy
from audience.destinations.flatten import flatten
from audience.errors import ConfigError


def test_backoff_doubles_from_the_initial_wait_up_to_the_maximum() -> None:
    policy = DestinationPolicy(initial_backoff=1.0, max_backoff=10.0)
    assert [policy.delay(attempt) for attempt in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_retry_after_lengthens_the_wait_but_never_past_the_maximum() -> None:
    policy = DestinationPolicy(initial_backoff=1.0, max_backoff=60.0)
    assert policy.delay(1, retry_after=30) == 30
    assert policy.delay(4, retry_after=2) == 8
    assert policy.delay(1, retry_after=3600) == 60


def test_a_destination_waits_the_same_whatever_the_draw() -> None:
    """One worker sends to a destination: there is no crowd for jitter to spread."""
    policy = DestinationPolicy(initial_backoff=1.0, max_backoff=10.0)
    assert policy.retry.delay(3, draw=0.0) == policy.retry.delay(3, draw=1.0) == 4.0


def test_a_batch_is_exhausted_after_max_attempts() -> None:
    policy = DestinationPolicy(max_attempts=3)
    assert not policy.is_exhausted(2)
    assert policy.is_exhausted(3)


def test_a_delivery_policy_that_cannot_work_is_refused() -> None:
    with pytest.raises(ConfigError):
        DestinationPolicy(max_attempts=0)
    with pytest.raises(ConfigError):
        DestinationPolicy(initial_backoff=10, max_backoff=1)


json_leaves = st.one_of(st.text(max_size=5), st.integers(), st.booleans(), st.floats(0, 1))
json_objects = st.recursive(
    st.dictionaries(st.text(max_size=6), json_leaves, max_size=4),
    lambda children: st.dictionaries(st.text(max_size=6), children | json_leaves, max_size=4),
    max_leaves=12,
)


def count_leaves(value: object) -> int:
    if isinstance(value, dict):
        return sum(count_leaves(child) for child in value.values())
    return 1


@given(json_objects)
def test_flattening_keeps_every_value_under_its_own_column(values: dict[str, object]) -> None:
    """However keys collide after snake_casing, no value is dropped."""
    assert len(flatten(values, taken={"id", "user_id"})) == count_leaves(values)
