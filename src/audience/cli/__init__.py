"""The ``audience`` command line: one group, one module of this package per command group.

The commands' modules are imported only when they run, so ``audience --help`` stays fast and
the SDK-only install runs the CLI without the server packages.
"""

from __future__ import annotations

import importlib
from importlib.metadata import version

import click

COMMANDS: dict[str, str] = {
    "serve": "audience.cli.serve:serve",
    "sources": "audience.cli.sources:sources",
    "events": "audience.cli.events:events",
    "admin": "audience.cli.admin:admin",
    "destinations": "audience.cli.destinations:destinations",
    "privacy": "audience.cli.privacy:privacy",
    "profiles": "audience.cli.profiles:profiles",
    "replay": "audience.cli.events:replay",
    "resolve": "audience.cli.resolve:resolve",
    "backup": "audience.cli.backups:backup",
    "restore": "audience.cli.backups:restore",
}
"""Command name -> ``module:attribute`` of its click command, imported only when used."""


class LazyGroup(click.Group):
    """A group that imports a command's module only when that command runs or lists itself.

    This keeps ``audience --help`` fast and lets the SDK-only install run the CLI without
    the server packages.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS:
            module_name, attribute = COMMANDS[cmd_name].split(":")
            command = getattr(importlib.import_module(module_name), attribute)
            if not isinstance(command, click.Command):
                raise click.ClickException(f"{COMMANDS[cmd_name]} is not a command")
            return command
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version("audience"), prog_name="audience")
def main() -> None:
    """audience: a self-hostable customer data pipeline built around audience identity."""
