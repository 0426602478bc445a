"""``audience resolve``: bring the profiles up to date with the event log, with progress shown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from audience.cli.options import settings_of, store_options
from audience.cli.stores import profile_stores
from audience.resolution.resolver import Resolver
from audience.storage.backend import EventStore


def progress_bar() -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=False,
    )


def catch_up(resolver: Resolver, events: EventStore, description: str) -> int:
    target = events.last_seq()
    applied = 0
    with progress_bar() as progress:
        task = progress.add_task(description, total=max(0, target - resolver.applied))
        start = resolver.applied
        while resolver.applied < target:
            if resolver.step() == 0:
                break
            applied = resolver.applied - start
            progress.update(task, completed=applied)
    return applied


@click.command()
@click.option("--rebuild", is_flag=True, help="Forget every profile and recompute them all.")
@click.option(
    "--link-email/--no-link-email",
    default=None,
    help="With --rebuild: whether an identify's traits.email links profiles from now on "
    "(recorded in the profile store; off until chosen).",
)
@click.option(
    "--from-remaining",
    is_flag=True,
    help="With --rebuild, after retention pruned events: rebuild from the events that remain "
    "(what the pruned ones told the profiles is lost).",
)
@store_options
def resolve(
    rebuild: bool,
    link_email: bool | None,
    from_remaining: bool,
    data_dir: Path | None,
    database_url: str | None,
) -> None:
    """Bring profiles up to date with the event log (the server does this while it runs).

    After retention has pruned events, --rebuild is refused unless --from-remaining is given:
    the profiles hold what the pruned events told them, and a rebuild would forget it.
    """
    if link_email is not None and not rebuild:
        raise click.UsageError("--link-email and --no-link-email change the rules: add --rebuild")
    if from_remaining and not rebuild:
        raise click.UsageError("--from-remaining goes with --rebuild")
    settings = settings_of(data_dir=data_dir, database_url=database_url)
    with profile_stores(settings) as (events, store):
        pruned = events.events_pruned() if rebuild else 0
        if pruned and not from_remaining:
            raise click.ClickException(
                f"retention has pruned {pruned} event(s) from the log: a rebuild would lose "
                "what they told the profiles (their identifiers, traits, merges, counts and "
                "first and last seen). Add --from-remaining to rebuild from the events that "
                "remain anyway."
            )
        if pruned:
            click.echo(
                f"warning: rebuilding from the events that remain; {pruned} pruned event(s) "
                "are left out of the profiles",
                err=True,
            )
        if rebuild:
            store.clear(link_email=link_email)
        resolver = Resolver(events, store)
        applied = catch_up(resolver, events, "rebuilding" if rebuild else "resolving")
        click.echo(f"applied {applied} event(s); profiles reflect the log up to #{store.cursor()}")
