"""``audience sources``: create and list the sources that send events."""

from __future__ import annotations

from pathlib import Path

import click

from audience.cli.options import settings_of, store_options
from audience.cli.stores import open_events
from audience.errors import AudienceError


@click.group()
def sources() -> None:
    """Create and list the sources that send events (each has a write key)."""


@sources.command("create")
@click.argument("name")
@click.option("--write-key", default=None, help="Use this write key instead of a random one.")
@store_options
def create_source(
    name: str, write_key: str | None, data_dir: Path | None, database_url: str | None
) -> None:
    """Create a source called NAME and print its write key."""
    with open_events(settings_of(data_dir=data_dir, database_url=database_url)) as store:
        try:
            source = store.create_source(name, write_key)
        except AudienceError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(source.write_key)


@sources.command("list")
@store_options
def list_sources(data_dir: Path | None, database_url: str | None) -> None:
    """List the sources with their write keys."""
    with open_events(settings_of(data_dir=data_dir, database_url=database_url)) as store:
        for source in store.list_sources():
            click.echo(f"{source.name}\t{source.write_key}\t{source.created_at}")
