"""``audience profiles``: look at the people resolution has found."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Final

import click
import orjson

from audience.cli.options import settings_of, store_options
from audience.cli.stores import profile_stores
from audience.clock import SystemClock, UuidFactory
from audience.errors import ValidationError
from audience.identity.identifiers import Identifier, clean_email, clean_id
from audience.identity.journey import build_journey
from audience.identity.profiles import Profile
from audience.tracking import format_timestamp

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


def _operator() -> str:
    """Who records an action from the command line: the login name, unless --actor says."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "operator"


actor_option = click.option(
    "--actor", default=None, help="Who records the action (default: your login name)."
)
reason_option = click.option(
    "--reason", required=True, help="Why: kept with the action in the merge log."
)


@profiles.command("merge")
@click.argument("first")
@click.argument("second")
@reason_option
@actor_option
@store_options
def merge(
    first: str,
    second: str,
    reason: str,
    actor: str | None,
    data_dir: Path | None,
    database_url: str | None,
) -> None:
    """Merge profiles FIRST and SECOND (ids), which the rules kept apart.

    Their anchors become one person from now on, whatever merge protection decided; the merge
    is kept with who and why and applied again by every rebuild.
    """
    if not reason.strip():
        raise click.BadParameter("must not be empty", param_hint="--reason")
    settings = settings_of(data_dir=data_dir, database_url=database_url)
    with profile_stores(settings) as (_, store):
        try:
            action = store.merge(
                (first, second),
                action_id=f"op-{UuidFactory().new()}",
                at=format_timestamp(SystemClock().now()),
                actor=actor or _operator(),
                reason=reason.strip(),
            )
        except ValidationError as exc:
            raise click.ClickException(str(exc)) from exc
        merged = store.lookup(action.a)
        click.echo(f"merged {first} and {second} ({action.action_id})")
        if merged is not None:
            _print_profile(merged)


@profiles.command("split")
@click.argument("profile_id")
@click.option("--user-id", default=None, help="Split this user id off the profile.")
@click.option("--anonymous-id", default=None, help="Split this anonymous id off the profile.")
@click.option("--email", default=None, help="Split this email off the profile.")
@reason_option
@actor_option
@store_options
def split(
    profile_id: str,
    user_id: str | None,
    anonymous_id: str | None,
    email: str | None,
    reason: str,
    actor: str | None,
    data_dir: Path | None,
    database_url: str | None,
) -> None:
    """Split one identifier, and the events attributed to it, off profile PROFILE_ID.

    The links naming it before now are dropped, so the profiles are rebuilt from the event log
    (here, and by a running server's resolver); later events link it again.
    """
    from audience.cli.resolve import catch_up
    from audience.resolution.resolver import Resolver

    given = [
        (kind, value)
        for kind, value in (("user_id", user_id), ("anonymous_id", anonymous_id), ("email", email))
        if value is not None
    ]
    if len(given) != 1:
        raise click.UsageError("give exactly one of --user-id, --anonymous-id or --email")
    kind, raw = given[0]
    value = clean_email(raw) if kind == "email" else clean_id(raw)
    if value is None:
        raise click.BadParameter(
            f"is not a usable {kind}", param_hint=f"--{kind.replace('_', '-')}"
        )
    if not reason.strip():
        raise click.BadParameter("must not be empty", param_hint="--reason")
    settings = settings_of(data_dir=data_dir, database_url=database_url)
    with profile_stores(settings) as (events, store):
        try:
            action = store.split(
                profile_id,
                Identifier(kind, value),  # type: ignore[arg-type]
                action_id=f"op-{UuidFactory().new()}",
                at=format_timestamp(SystemClock().now()),
                actor=actor or _operator(),
                reason=reason.strip(),
            )
        except ValidationError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"split {kind} {value} off {profile_id} ({action.action_id}); rebuilding")
        applied = catch_up(Resolver(events, store), events, "rebuilding")
        click.echo(f"applied {applied} event(s); profiles reflect the log up to #{store.cursor()}")
