"""The rules of the HTTP server's limits: the connection cap, the body deadline, admission."""

from __future__ import annotations

import resource
import subprocess
import sys

import pytest

from audience.config import Settings, load_settings
from audience.errors import ConfigError
from audience.http.uvicorn_server import (
    ConnectionBook,
    HttpLimits,
    connection_cap,
    next_body_deadline,
)

LIMITS = HttpLimits(
    max_header_bytes=32768,
    header_timeout=10.0,
    body_timeout=10.0,
    body_min_rate=1000,
    keep_alive_timeout=5.0,
    max_connections=4,
)


class Connection:
    """A connection as the book sees it: it can only be evicted."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.evicted = False

    def evict(self) -> None:
        self.evicted = True


def test_the_cap_keeps_a_reserve_of_descriptors_back_from_client_connections() -> None:
    """128 descriptors plus a sixteenth of the limit stay for stores, children and clients."""
    assert connection_cap(1024) == 1024 - 128 - 64
    assert connection_cap(65536) == 65536 - 128 - 4096
    assert connection_cap(100) == 1


def test_a_requested_cap_is_used_unless_the_descriptors_cannot_hold_it() -> None:
    assert connection_cap(1024, 100) == 100
    assert connection_cap(1024, 5000) == 832


def test_the_limits_come_from_the_settings_with_the_cap_sized_by_the_descriptor_limit() -> None:
    settings = Settings(http_header_timeout=2.5, http_max_connections=None)
    limits = HttpLimits.from_settings(settings, 1024)
    assert limits.header_timeout == 2.5
    assert limits.max_header_bytes == 32768
    assert limits.max_connections == 832


def test_a_stalled_body_keeps_its_deadline() -> None:
    assert next_body_deadline(10.0, 3.0, 0, LIMITS) == 10.0


def test_body_progress_buys_time_at_the_minimum_rate_up_to_the_body_timeout() -> None:
    """Each byte buys 1/min_rate seconds; the deadline never runs past now + body_timeout."""
    assert next_body_deadline(10.0, 1.0, 500, LIMITS) == 10.5
    assert next_body_deadline(10.0, 1.0, 50_000, LIMITS) == 11.0


def test_a_body_dripping_below_the_minimum_rate_runs_out_of_time() -> None:
    deadline = 10.0
    now = 0.0
    while now < deadline:
        now += 0.2
        deadline = next_body_deadline(deadline, now, 1, LIMITS)
    assert now < 10.5


def test_at_the_cap_the_longest_idle_connection_is_evicted_for_a_new_one() -> None:
    book = ConnectionBook(cap=3, refusals_allowed=8)
    first, second, third = Connection("1"), Connection("2"), Connection("3")
    for connection in (first, second, third):
        assert book.admit(connection)
    book.busy(first)
    book.busy(second)
    book.idle(first)  # answered: now idle, but more recently than third
    newcomer = Connection("4")
    assert book.admit(newcomer)
    assert third.evicted
    assert not first.evicted
    assert not second.evicted
    assert book.admitted == 3


def test_at_the_cap_with_every_connection_mid_request_a_new_one_is_refused() -> None:
    book = ConnectionBook(cap=2, refusals_allowed=8)
    busy = [Connection("1"), Connection("2")]
    for connection in busy:
        assert book.admit(connection)
        book.busy(connection)
    assert not book.admit(Connection("3"))
    assert not any(connection.evicted for connection in busy)
    book.leave(busy[0])
    assert book.admit(Connection("4"))


def test_an_evicted_or_closed_connection_frees_its_place_once() -> None:
    book = ConnectionBook(cap=1, refusals_allowed=8)
    old = Connection("old")
    assert book.admit(old)
    assert book.admit(Connection("new"))
    book.leave(old)  # its close arrives after the eviction
    assert book.admitted == 1


def test_refusals_are_reported_once_a_minute_with_their_count() -> None:
    book = ConnectionBook(cap=1, refusals_allowed=8)
    assert book.note_refusal(100.0) == 1
    assert [book.note_refusal(100.0 + n) for n in range(1, 5)] == [0, 0, 0, 0]
    assert book.note_refusal(161.0) == 5


def test_the_soft_descriptor_limit_is_raised_to_the_hard_limit() -> None:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 2048))

    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import resource; from audience.http.uvicorn_server import raise_descriptor_limit;"
            "print(raise_descriptor_limit(), resource.getrlimit(resource.RLIMIT_NOFILE)[0])",
        ],
        capture_output=True,
        text=True,
        check=True,
        preexec_fn=limit,
    )
    assert result.stdout.split() == ["2048", "2048"]


def test_the_http_limits_default_to_their_documented_values() -> None:
    settings = load_settings(env={})
    assert settings.http_max_header_bytes == 32768
    assert settings.http_header_timeout == 10.0
    assert settings.http_body_timeout == 10.0
    assert settings.http_body_min_rate == 1024
    assert settings.http_keep_alive_timeout == 5.0
    assert settings.http_max_connections is None


def test_http_limits_are_read_from_the_environment() -> None:
    settings = load_settings(
        env={"AUDIENCE_HTTP_HEADER_TIMEOUT": "2.5", "AUDIENCE_HTTP_MAX_CONNECTIONS": "500"}
    )
    assert settings.http_header_timeout == 2.5
    assert settings.http_max_connections == 500


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AUDIENCE_HTTP_HEADER_TIMEOUT", "soon"),
        ("AUDIENCE_HTTP_HEADER_TIMEOUT", "0"),
        ("AUDIENCE_HTTP_BODY_TIMEOUT", "-1"),
        ("AUDIENCE_HTTP_KEEP_ALIVE_TIMEOUT", "nan"),
        ("AUDIENCE_HTTP_MAX_HEADER_BYTES", "lots"),
        ("AUDIENCE_HTTP_BODY_MIN_RATE", "0"),
        ("AUDIENCE_HTTP_MAX_CONNECTIONS", "0"),
    ],
)
def test_a_bad_http_limit_is_a_config_error_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings(env={name: value})
