from __future__ import annotations

from pathlib import Path

import pytest

from audience.config import SETTINGS, Settings, load_settings
from audience.errors import ConfigError


def test_defaults_apply_when_nothing_is_set() -> None:
    assert load_settings(env={}) == Settings()


def test_environment_variables_set_values_and_flags_override_them() -> None:
    env = {"AUDIENCE_PORT": "9000", "AUDIENCE_DATA_DIR": "/tmp/x", "AUDIENCE_HOST": "0.0.0.0"}
    settings = load_settings(env=env, overrides={"port": 9100, "host": None})
    assert settings.port == 9100
    assert settings.host == "0.0.0.0"
    assert settings.data_dir == Path("/tmp/x")
    assert settings.database_path == Path("/tmp/x/events.sqlite3")


def test_lists_and_urls_are_parsed_and_checked() -> None:
    env = {
        "AUDIENCE_TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1",
        "AUDIENCE_PUBLIC_URL": "https://cdp.example.com/",
    }
    settings = load_settings(env=env)
    assert settings.trusted_proxies == ("10.0.0.0/8", "127.0.0.1")
    assert settings.public_url == "https://cdp.example.com"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AUDIENCE_PORT", "eighty"),
        ("AUDIENCE_PORT", "70000"),
        ("AUDIENCE_PUBLIC_URL", "cdp.example.com"),
        ("AUDIENCE_TRUSTED_PROXIES", "not-a-network"),
        ("AUDIENCE_MAX_EVENT_BYTES", "-1"),
        ("AUDIENCE_SYNCHRONOUS", "sometimes"),
        ("AUDIENCE_ADMIN_TOKEN", "short"),
        ("AUDIENCE_LOG_LEVEL", "loud"),
    ],
)
def test_a_bad_value_is_a_config_error_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings(env={name: value})


def test_every_setting_is_a_field_and_is_documented_in_the_readme() -> None:
    fields = set(Settings.__dataclass_fields__)
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for setting in SETTINGS:
        assert setting.name in fields
        assert setting.env in readme, f"{setting.env} is not in the README"
