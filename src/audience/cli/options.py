"""The options several commands share, made once from the settings table (``config.SETTINGS``),
so that their help reads the same in every command, and the settings they build."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar

import click

from audience.config import SETTINGS, Settings, load_settings
from audience.errors import AudienceError

Command = TypeVar("Command", bound=Callable[..., Any])

SETTING_HELP: Final = {setting.name: f"{setting.help} [env {setting.env}]" for setting in SETTINGS}
"""Each setting's help line, naming its environment variable."""


def setting_option(
    name: str, *flags: str, shown_default: str | None = None, **attributes: Any
) -> Callable[[Command], Command]:
    """An option that overrides the setting ``name``; left out, it is ``None`` ("not given")."""
    text = SETTING_HELP[name] + (f" [default: {shown_default}]" if shown_default else "")
    attributes.setdefault("default", None)
    return click.option(*flags, name, help=text, **attributes)


def data_option(function: Command) -> Command:
    """``--data DIR``: the folder holding the SQLite files."""
    return setting_option(
        "data_dir",
        "--data",
        type=click.Path(file_okay=False, path_type=Path),
        shown_default="./audience-data",
    )(function)


def database_option(function: Command) -> Command:
    """``--database-url``: the PostgreSQL database instead of the SQLite files."""
    return setting_option("database_url", "--database-url")(function)


def store_options(function: Command) -> Command:
    """``--data`` and ``--database-url``: where every store is."""
    return data_option(database_option(function))


def settings_of(**given: Any) -> Settings:
    """The settings with the options ``given`` (``None`` for those left out); a wrong value is
    a usage error."""
    try:
        return load_settings(overrides=given)
    except AudienceError as exc:
        raise click.UsageError(str(exc)) from exc
