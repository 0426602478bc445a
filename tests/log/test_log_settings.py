"""The log's settings: servers read from one comma-separated value, and roles that make no
sense refused with an error naming the setting."""

from __future__ import annotations

import pytest

from audience.config import load_settings
from audience.errors import ConfigError


def test_log_servers_are_read_with_or_without_their_scheme() -> None:
    settings = load_settings({"AUDIENCE_LOG": "nats://a:4222, b:4222,c:4222"})
    assert settings.log == ("nats://a:4222", "nats://b:4222", "nats://c:4222")
    assert (settings.role, settings.partitions, settings.log_replicas) == ("all", 4, 1)
    assert settings.log_prefix == "audience"


def test_a_log_server_that_is_not_nats_is_refused_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="AUDIENCE_LOG: 'http://a:80' is not a NATS server"):
        load_settings({"AUDIENCE_LOG": "http://a:80"})


@pytest.mark.parametrize("role", ["collector", "writer"])
def test_a_split_role_without_a_log_is_refused_naming_role(role: str) -> None:
    with pytest.raises(ConfigError, match=f"role: {role} needs log"):
        load_settings({}, {"role": role})


def test_several_workers_on_the_log_must_be_collectors() -> None:
    log = {"AUDIENCE_LOG": "nats://a:4222", "AUDIENCE_DATABASE_URL": "postgresql://db/x"}
    with pytest.raises(ConfigError, match="workers: with log"):
        load_settings(log, {"workers": 4})
    assert load_settings(log, {"workers": 4, "role": "collector"}).workers == 4


def test_an_unknown_role_and_too_many_replicas_are_refused() -> None:
    with pytest.raises(ConfigError, match="AUDIENCE_ROLE: 'reader' is not all"):
        load_settings({"AUDIENCE_ROLE": "reader"})
    with pytest.raises(ConfigError, match="AUDIENCE_LOG_REPLICAS: '7' is not a number"):
        load_settings({"AUDIENCE_LOG_REPLICAS": "7"})
