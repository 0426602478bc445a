"""The partition rule: one person's events keep one partition, in every process."""

from __future__ import annotations

import subprocess
import sys

import pytest

from audience.log.partitions import partition_key, partition_of, subject_of, subjects_of


def test_the_partition_key_is_the_anonymous_id_first_then_the_user_id_then_the_message_id() -> None:
    assert partition_key("anon-1", "user-1", "m-1") == "anon-1"
    assert partition_key(None, "user-1", "m-1") == "user-1"
    assert partition_key(None, None, "m-1") == "m-1"
    assert partition_key("", "user-1", "m-1") == "user-1"


def test_every_event_of_one_anonymous_id_goes_to_one_partition() -> None:
    partitions = {partition_of(partition_key("anon-7", None, f"m-{n}"), 4) for n in range(50)}
    assert len(partitions) == 1


def test_a_user_s_events_without_an_anonymous_id_keep_one_partition() -> None:
    partitions = {partition_of(partition_key(None, "user-9", f"m-{n}"), 8) for n in range(50)}
    assert len(partitions) == 1


def test_partitions_are_within_the_count_and_all_of_them_are_used() -> None:
    seen = {partition_of(f"anon-{n}", 4) for n in range(400)}
    assert seen == {0, 1, 2, 3}


def test_a_single_partition_takes_every_event() -> None:
    assert {partition_of(f"anon-{n}", 1) for n in range(20)} == {0}


def test_the_partition_is_the_same_in_another_process() -> None:
    keys = [f"anon-{n}" for n in range(20)]
    here = [partition_of(key, 4) for key in keys]
    program = (
        "from audience.log.partitions import partition_of\n"
        f"print([partition_of(key, 4) for key in {keys!r}])"
    )
    # A new interpreter salts Python's own hash differently: the rule must not depend on it.
    there = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345"},
    ).stdout
    assert there.strip() == str(here)


def test_the_partition_of_a_key_is_fixed_by_blake2b() -> None:
    # The first 8 bytes of BLAKE2b, big-endian, modulo the count: a change moves every person.
    assert partition_of("anon-1", 4) == 1
    assert partition_of("user-9", 4) == 2


def test_a_partition_count_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="partitions must be positive"):
        partition_of("anon-1", 0)


def test_subjects_are_the_prefix_then_events_then_the_partition() -> None:
    assert subject_of("audience", 3) == "audience.events.3"
    assert subjects_of("audience") == "audience.events.*"
