"""The resolution commands: ``audience profiles``, ``audience replay`` and ``audience resolve``."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import click
import orjson

from audience.clock import SystemClock, UuidFactory
from audience.collector.ingest import Ingestor, Limits, Submission
from audience.config import Settings, load_settings
from audience.errors import AudienceError
from audience.identity.identifiers import Identifier
from audience.identity.journey import build_journey
from audience.identity.profiles import Profile
from audience.resolution.backend import open_profile_store
from audience.resolution.resolver import Resolver
from audience.resolution.sqlite import SQLiteProfileStore
from audience.storage.backend import EventStore, event_store_exists, open_event_store

REPLAY_BATCH: Final = 500
"""Messages handed to the ingest path at a time by ``audience replay``."""

TIMELINE_EVENTS: Final = 1000
"""Events ``audience profiles show`` prints at most."""


def _settings(data_dir: Path | None) -> Settings:
    try:
        database_url = click.get_current_context().meta.get(DATABASE_URL_KEY)
        return load_settings(overrides={"data_dir": data_dir, "database_url": database_url})
    except AudienceError as exc:
        raise click.UsageError(str(exc)) from exc


DATABASE_URL_KEY: Final = "audience.database_url"


def _keep_database_url(context: click.Context, parameter: click.Parameter, value: Any) -> None:
    if value is not None:
        context.meta[DATABASE_URL_KEY] = value


def _data_option(function: Any) -> Any:
    function = click.option(
        "--database-url",
        default=None,
        expose_value=False,
        callback=_keep_database_url,
        help="postgresql://... to use PostgreSQL instead of the data folder "
        "[env AUDIENCE_DATABASE_URL]",
    )(function)
    return click.option(
        "--data",
        "data_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Folder holding the event store and profiles [env AUDIENCE_DATA_DIR] "
        "[default: ./audience-data]",
    )(function)


@contextmanager
def _stores(settings: Settings) -> Iterator[tuple[EventStore, SQLiteProfileStore]]:
    if not event_store_exists(settings):
        raise click.ClickException(f"no event store in {settings.data_dir}")
    try:
        events = open_event_store(settings)
    except AudienceError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        profiles = open_profile_store(settings)
        try:
            yield events, profiles
        finally:
            profiles.close()
    finally:
        events.close()


def _progress() -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=False,
    )


def _catch_up(resolver: Resolver, events: EventStore, description: str) -> int:
    target = events.last_seq()
    applied = 0
    with _progress() as progress:
        task = progress.add_task(description, total=max(0, target - resolver.applied))
        start = resolver.applied
        while resolver.applied < target:
            if resolver.step() == 0:
                break
            applied = resolver.applied - start
            progress.update(task, completed=applied)
    return applied


# -- audience profiles ---------------------------------------------------------------------


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
@_data_option
def show(
    profile_id: str | None,
    user_id: str | None,
    anonymous_id: str | None,
    email: str | None,
    data_dir: Path | None,
) -> None:
    """Print a profile and its timeline: give an ID, --user-id, --anonymous-id or --email."""
    given = [value for value in (profile_id, user_id, anonymous_id, email) if value is not None]
    if len(given) != 1:
        raise click.UsageError("give exactly one of ID, --user-id, --anonymous-id or --email")
    with _stores(_settings(data_dir)) as (events, store):
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
@_data_option
def search(query: str, limit: int, data_dir: Path | None) -> None:
    """List profiles whose identifier or trait value contains QUERY (all when empty)."""
    with _stores(_settings(data_dir)) as (_, store):
        for profile in store.search(query, limit):
            best = profile.identifiers[0] if profile.identifiers else None
            name = f"{best.type} {best.value}" if best else "-"
            click.echo(f"{profile.id}\t{name}\t{profile.event_count} events\t{profile.last_seen}")


# -- audience resolve ----------------------------------------------------------------------


@click.command()
@click.option("--rebuild", is_flag=True, help="Forget every profile and recompute them all.")
@click.option(
    "--link-email/--no-link-email",
    default=None,
    help="With --rebuild: whether an identify's traits.email links profiles from now on "
    "(recorded in the profile store; off until chosen).",
)
@_data_option
def resolve(rebuild: bool, link_email: bool | None, data_dir: Path | None) -> None:
    """Bring profiles up to date with the event log (the server does this while it runs)."""
    if link_email is not None and not rebuild:
        raise click.UsageError("--link-email and --no-link-email change the rules: add --rebuild")
    with _stores(_settings(data_dir)) as (events, store):
        if rebuild:
            store.clear(link_email=link_email)
        resolver = Resolver(events, store)
        applied = _catch_up(resolver, events, "rebuilding" if rebuild else "resolving")
        click.echo(f"applied {applied} event(s); profiles reflect the log up to #{store.cursor()}")


# -- audience replay -----------------------------------------------------------------------


def _messages(line: bytes, number: int) -> list[Any]:
    """The messages of one line: a message, or a batch body ``{"batch": [...]}``."""
    try:
        parsed = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise click.ClickException(f"line {number}: not JSON ({exc})") from exc
    if isinstance(parsed, dict) and isinstance(parsed.get("batch"), list):
        items = parsed["batch"]
    else:
        items = [parsed]
    for index, item in enumerate(items):
        if isinstance(item, dict) and not item.get("messageId"):
            # A stable id makes replaying the same file twice store nothing new.
            digest = hashlib.sha256(line + f"#{index}".encode()).hexdigest()
            item["messageId"] = f"replay-{digest[:32]}"
    return list(items)


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--source", "source_name", default=None, help="Source to store under [first one].")
@_data_option
def replay(file: Path, source_name: str | None, data_dir: Path | None) -> None:
    """Import FILE.jsonl (one message or batch body a line) through the ingest path.

    Messages are validated and enriched like live traffic; a message whose messageId is
    already stored is skipped, so replaying a file twice stores nothing new. Profiles are
    brought up to date afterwards.
    """
    settings = _settings(data_dir)
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        events = open_event_store(settings)
    except AudienceError as exc:
        raise click.ClickException(str(exc)) from exc
    totals = {"stored": 0, "duplicates": 0, "dropped": 0}
    try:
        source = events.source_by_name(source_name) if source_name else None
        if source is None:
            listed = events.list_sources()
            if source_name or not listed:
                raise click.ClickException(f"no source {source_name or 'yet'}: create one first")
            source = listed[0]
        ingestor = Ingestor(
            events,
            clock=SystemClock(),
            ids=UuidFactory(),
            limits=Limits(settings.max_event_bytes, settings.max_batch_events),
        )
        size = file.stat().st_size
        pending: list[Any] = []

        def flush() -> None:
            for start in range(0, len(pending), REPLAY_BATCH):
                chunk = pending[start : start + REPLAY_BATCH]
                outcome = ingestor.ingest(Submission(source.name, {"batch": chunk})).result()
                totals["stored"] += outcome.stored
                totals["duplicates"] += outcome.duplicates
                totals["dropped"] += outcome.dropped
            pending.clear()

        with _progress() as progress, file.open("rb") as lines:
            task = progress.add_task(f"replaying {file.name}", total=size)
            for number, line in enumerate(lines, start=1):
                if line.strip():
                    pending.extend(_messages(line, number))
                if len(pending) >= REPLAY_BATCH:
                    flush()
                progress.update(task, completed=lines.tell())
            flush()
        click.echo(
            f"stored {totals['stored']}, already stored {totals['duplicates']}, "
            f"refused {totals['dropped']}"
        )
        profile_store = open_profile_store(settings)
        try:
            _catch_up(Resolver(events, profile_store), events, "resolving")
        finally:
            profile_store.close()
    finally:
        events.close()
