from __future__ import annotations

import pytest
from click.testing import CliRunner

from audience import __version__
from audience.cli import main
from audience.cli.options import SETTING_HELP


def test_audience_version_prints_the_package_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_audience_help_lists_its_commands() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "Usage: main" in result.output or "Usage: audience" in result.output


STORE_COMMANDS = [
    ["serve"],
    ["sources", "create"],
    ["sources", "list"],
    ["events", "tail"],
    ["events", "replay"],
    ["replay"],
    ["admin", "token"],
    ["destinations", "add"],
    ["destinations", "status"],
    ["destinations", "run"],
    ["profiles", "show"],
    ["profiles", "search"],
    ["resolve"],
]


def _words(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("command", STORE_COMMANDS, ids=" ".join)
def test_every_command_explains_data_and_database_url_in_the_same_words(
    command: list[str],
) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    shown = _words(result.output)
    assert "--data DIRECTORY " + _words(SETTING_HELP["data_dir"]) in shown
    assert "--database-url TEXT " + _words(SETTING_HELP["database_url"]) in shown
