"""``audience profiles``: look at the people resolution has found."""

from __future__ import annotations

from pathlib import Path
from typing import Final

import click
import orjson

from audience.cli.options import settings_of, store_options
from audience.cli.stores import profile_stores
from audience.identity.identifiers import Identifier
from audience.identity.journey import build_journey
from audience.identity.profiles import Profile

TIMELINE_EVENTS: Final = 1000
"""Events ``audience profiles show`` prints at most."""


@click.group()
def profiles() -> None:
    """Look at the people resolution has found."""


def _print_profile(profile: Profile) -> None:
    click.echo(f"profile {profile.id}")
    for identifier in profile.identifiers:
        click.echo(f"  {identifier.type:<13} {identifier.value}")
    if profile.identifier_count > len(profile.identifiers):
        click.echo(f"  ... and {profile.identifier_count - len(profile.identifiers)} more")
    click.echo(f"events      {profile.event_count}")
    click.echo(f"first seen  {profile.first_seen or '-'}")
    click.echo(f"last seen   {profile.last_seen or '-'}")
    click.echo(f"traits      {orjson.dumps(profile.traits, option=orjson.OPT_SORT_KEYS).decode()}")
    for group in profile.groups:
        traits = orjson.dumps(group.traits, option=orjson.OPT_SORT_KEYS).decode()
        click.echo(f"group       {group.group_id} {traits}")


@profiles.command("show")
@click.argument("profile_id", required=False)
@click.option("--user-id", default=None, help="Find the profile holding this user id.")
@click.option("--anonymous-id", default=None, help="Find the profile holding this anonymous id.")
@click.option("--email", default=None, help="Find the profile holding this email.")
@store_options
def show(
    profile_id: str | None,
    user_id: str | None,
    anonymous_id: str | None,
    email: str | None,
    data_dir: Path | None,
    database_url: str | None,
) -> None:
    """Print a profile and its timeline: give an ID, --user-id, --anonymous-id or --email."""
    given = [value for value in (profile_id, user_id, anonymous_id, email) if value is not None]
    if len(given) != 1:
        raise click.UsageError("give exactly one of ID, --user-id, --anonymous-id or --email")
    settings = settings_of(data_dir=data_dir, database_url=database_url)
    with profile_stores(settings) as (events, store):
        if profile_id is not None:
            found = store.get(profile_id)
        elif user_id is not None:
            found = store.lookup(Identifier("user_id", user_id))
        elif anonymous_id is not None:
            found = store.lookup(Identifier("anonymous_id", anonymous_id))
        else:
            found = store.lookup(Identifier("email", (email or "").strip().lower()))
        if found is None:
            raise click.ClickException(f"no profile {given[0]!r}")
        _print_profile(found)
        linked = store.events(found.id, TIMELINE_EVENTS)
        messages = {e.seq: e.message for e in events.get_many([e.seq for e in linked])}
        pairs = [(e, messages[e.seq]) for e in linked if e.seq in messages]
        click.echo("timeline")
        for phase in build_journey(pairs):
            click.echo(f"  [{phase.kind} {phase.label}]")
            for event in phase.events:
                click.echo(f"    {event.timestamp}  {event.title}  (linked by {event.linked_by})")
        for merge in store.merges(found.id):
            click.echo(f"merge       {merge.status}: {merge.reason}")


@profiles.command("search")
@click.argument("query", default="")
@click.option("-n", "--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@store_options
def search(query: str, limit: int, data_dir: Path | None, database_url: str | None) -> None:
    """List profiles whose identifier or trait value contains QUERY (all when empty)."""
    settings = settings_of(data_dir=data_dir, database_url=database_url)
    with profile_stores(settings) as (_, store):
        for profile in store.search(query, limit):
            best = profile.identifiers[0] if profile.identifiers else None
            name = f"{best.type} {best.value}" if best else "-"
            click.echo(f"{profile.id}\t{name}\t{profile.event_count} events\t{profile.last_seen}")
