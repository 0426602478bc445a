"""``audience sources``: create and list the sources that send events, and set how long each
source's events are kept."""

from __future__ import annotations

from pathlib import Path

import click

from audience.cli.options import settings_of, store_options
from audience.cli.stores import open_events
from audience.errors import AudienceError
from audience.storage.pruning import MAX_RETENTION_DAYS


@click.group()
def sources() -> None:
    """Create and list the sources that send events (each has a write key); set how long
    their events are kept."""


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
        retention = store.source_retention()
        for source in store.list_sources():
            kept = retention.get(source.name)
            line = f"{source.name}\t{source.write_key}\t{source.created_at}"
            click.echo(line if kept is None else f"{line}\tretention {kept}d")


@sources.command("set-retention")
@click.argument("name")
@click.argument("days", type=click.IntRange(1, MAX_RETENTION_DAYS), required=False)
@click.option(
    "--unset", is_flag=True, help="Keep the source's events as long as the server's --retention."
)
@store_options
def set_retention(
    name: str, days: int | None, unset: bool, data_dir: Path | None, database_url: str | None
) -> None:
    """Keep the events of source NAME for DAYS days (before the server's --retention).

    `audience serve` prunes them once the profiles and every destination have them.
    """
    if (days is None) == (not unset):
        raise click.UsageError("give DAYS, or --unset to go back to the server's retention")
    with open_events(settings_of(data_dir=data_dir, database_url=database_url)) as store:
        try:
            store.set_source_retention(name, None if unset else days)
        except AudienceError as exc:
            raise click.ClickException(str(exc)) from exc
    if unset:
        click.echo(f"{name}: events kept as long as the server's --retention")
    else:
        click.echo(f"{name}: events kept {days} day(s)")
