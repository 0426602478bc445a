"""The collector's commands: ``audience serve``, ``sources``, ``events`` and ``admin``."""

from __future__ import annotations

import gc
import logging
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import orjson

from audience.collector.app import FirstStart, prepare_data
from audience.collector.bundle import browser_snippets
from audience.config import SETTINGS, Settings, load_settings
from audience.errors import AudienceError
from audience.http.admin_token import ADMIN_TOKEN_KEY, rotate_admin_token
from audience.serving.app import SERVER_APP, build_server_app
from audience.storage.backend import EventStore, event_store_exists, open_event_store
from audience.storage.base import EventFilter

_HELP = {setting.name: f"{setting.help} [env {setting.env}]" for setting in SETTINGS}
FOLLOW_POLL_SECONDS = 0.5


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(overrides=overrides)
    except AudienceError as exc:
        raise click.UsageError(str(exc)) from exc


def _data_option(function: Any) -> Any:
    return click.option(
        "--data",
        "data_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help=_HELP["data_dir"] + " [default: ./audience-data]",
    )(function)


def database_option(function: Any) -> Any:
    """``--database-url``: the PostgreSQL database instead of the SQLite files."""
    return click.option(
        "--database-url",
        "database_url",
        default=None,
        help=_HELP["database_url"],
    )(function)


def _open_store(settings: Settings) -> EventStore:
    try:
        return open_event_store(settings)
    except AudienceError as exc:
        raise click.ClickException(str(exc)) from exc


def tune_garbage_collector() -> None:
    """Set the garbage collector for a long-running server, once startup is done.

    Objects made at startup live as long as the process: freezing keeps them out of every
    later collection, whose pauses would otherwise grow with them. Each request makes and drops
    thousands of short-lived dicts without cycles: collecting the young generation every 20,000
    allocations instead of 700 took the collector's share of a batch flood from about a tenth
    of the server's CPU to almost nothing.
    """
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


@click.command()
@click.option("--host", default=None, help=_HELP["host"] + " [default: 127.0.0.1]")
@click.option("--port", type=int, default=None, help=_HELP["port"] + " [default: 8000]")
@_data_option
@click.option("--public-url", default=None, help=_HELP["public_url"])
@click.option(
    "--browser-bundle",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    multiple=True,
    help=_HELP["browser_bundle"] + " Repeat for both clients.",
)
@click.option(
    "--trusted-proxy",
    "trusted_proxies",
    multiple=True,
    help=_HELP["trusted_proxies"] + " Repeat for several.",
)
@click.option("--log-level", default=None, help=_HELP["log_level"])
@database_option
@click.option("--workers", type=click.IntRange(1, 64), default=None, help=_HELP["workers"])
def serve(
    host: str | None,
    port: int | None,
    data_dir: Path | None,
    public_url: str | None,
    browser_bundle: tuple[Path, ...],
    trusted_proxies: tuple[str, ...],
    log_level: str | None,
    database_url: str | None,
    workers: int | None,
) -> None:
    """Start the collector on the SQLite store in the data folder, or on PostgreSQL.

    The first start creates a source named "default" and generates the admin token, and
    prints it; later starts say where it is kept (`audience admin token` prints it). Every
    start prints the write key of the first source and the browser snippet.
    """
    from audience.http import uvicorn_server  # the server's modules load only to serve

    given: dict[str, Any] = {
        "host": host,
        "port": port,
        "data_dir": data_dir,
        "public_url": public_url,
        "browser_bundle": ",".join(map(str, browser_bundle)) if browser_bundle else None,
        "trusted_proxies": ",".join(trusted_proxies) if trusted_proxies else None,
        "log_level": log_level,
        "database_url": database_url,
        "workers": workers,
    }
    settings = _settings(**given)
    if settings.workers > 1 and not settings.database_url:
        raise click.UsageError("--workers above 1 needs --database-url (PostgreSQL)")
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app: Any = None
    try:
        if settings.workers > 1:
            with _open_store(settings) as store:
                first = prepare_data(store, settings)
        else:
            app, first = build_server_app(settings)
    except AudienceError as exc:
        raise click.ClickException(str(exc)) from exc
    reachable = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host  # noqa: S104
    origin = settings.public_url or f"http://{reachable}:{settings.port}"
    click.echo(f"audience collector on http://{settings.host}:{settings.port}")
    if settings.database_url:
        where = urlsplit(settings.database_url)
        click.echo(f"data: PostgreSQL {where.hostname or 'local socket'}{where.path}")
    else:
        click.echo(f"data: {settings.data_dir.resolve()}")
    click.echo(f"write key: {first.source.write_key}  (source {first.source.name})")
    click.echo(f"admin token: {_token_notice(first, settings)}")
    try:
        snippets = browser_snippets(settings.browser_bundle, first.source.write_key, origin)
    except AudienceError as exc:
        raise click.ClickException(str(exc)) from exc
    if not snippets:
        click.echo("browser snippet: start with --browser-bundle DIR to serve the script")
    for client, text in snippets:
        click.echo(f"browser snippet ({client.package}):")
        click.echo(text)
    tune_garbage_collector()
    if settings.workers > 1:
        # Each worker process builds its own application from the same settings, passed on
        # through the environment; they share the listening socket and the database.
        variables = {setting.name: setting.env for setting in SETTINGS}
        for name, value in given.items():
            if value is not None:
                os.environ[variables[name]] = str(value)
        uvicorn_server.run(SERVER_APP, settings)
    else:
        uvicorn_server.run(app, settings)


def _token_notice(first: FirstStart, settings: Settings) -> str:
    """What ``serve`` says of the admin token: the token itself only when it was just made.

    Everything a server prints ends up in journald or the container log, so a token that
    already existed, or one given in ``AUDIENCE_ADMIN_TOKEN``, is never printed.
    """
    if first.token_from_environment:
        return "from AUDIENCE_ADMIN_TOKEN"
    if first.token_generated:
        return f"{first.admin_token}  (generated now and kept {_kept_where(settings)})"
    return (
        f"kept {_kept_where(settings)}; `audience admin token` prints it, "
        "`audience admin token --rotate` replaces it and ends every session"
    )


def _kept_where(settings: Settings) -> str:
    if settings.database_url:
        return f"in the PostgreSQL table meta (key {ADMIN_TOKEN_KEY})"
    return f"in {settings.database_path.resolve()}"


@click.group()
def sources() -> None:
    """Create and list the sources that send events (each has a write key)."""


@sources.command("create")
@click.argument("name")
@click.option("--write-key", default=None, help="Use this write key instead of a random one.")
@_data_option
@database_option
def create_source(
    name: str, write_key: str | None, data_dir: Path | None, database_url: str | None
) -> None:
    """Create a source called NAME and print its write key."""
    with _open_store(_settings(data_dir=data_dir, database_url=database_url)) as store:
        try:
            source = store.create_source(name, write_key)
        except AudienceError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(source.write_key)


@sources.command("list")
@_data_option
@database_option
def list_sources(data_dir: Path | None, database_url: str | None) -> None:
    """List the sources with their write keys."""
    with _open_store(_settings(data_dir=data_dir, database_url=database_url)) as store:
        for source in store.list_sources():
            click.echo(f"{source.name}\t{source.write_key}\t{source.created_at}")


@click.group()
def events() -> None:
    """Read the stored events."""


@events.command("tail")
@click.option("--source", default=None, help="Only events of this source.")
@click.option("-n", "--limit", type=click.IntRange(1, 100_000), default=20, show_default=True)
@click.option("-f", "--follow", is_flag=True, help="Keep printing events as they arrive.")
@click.option(
    "--max-events",
    type=click.IntRange(1),
    default=None,
    help="With --follow, stop after printing this many events in all.",
)
@_data_option
@database_option
def tail(
    source: str | None,
    limit: int,
    follow: bool,
    max_events: int | None,
    data_dir: Path | None,
    database_url: str | None,
) -> None:
    """Print the newest stored events, oldest first, one JSON object a line."""
    settings = _settings(data_dir=data_dir, database_url=database_url)
    if not event_store_exists(settings):
        raise click.ClickException(f"no event store in {settings.data_dir}")
    with _open_store(settings) as store:
        if source is not None and store.source_by_name(source) is None:
            raise click.ClickException(f"no source called {source!r}")
        recent = store.recent(EventFilter(source=source), limit)
        printed = 0
        last_seq = recent[0].seq if recent else store.last_seq()
        for event in reversed(recent):
            click.echo(orjson.dumps(event.message).decode())
            printed += 1
        while follow and (max_events is None or printed < max_events):
            batch = store.read_after(last_seq, 500)
            if not batch:
                time.sleep(FOLLOW_POLL_SECONDS)
                continue
            last_seq = batch[-1].seq
            for event in batch:
                if source is None or event.source == source:
                    click.echo(orjson.dumps(event.message).decode())
                    printed += 1


@click.group()
def admin() -> None:
    """The admin token of the admin API and the pages."""


@admin.command("token")
@click.option(
    "--rotate", is_flag=True, help="Make a new token and end every admin session everywhere."
)
@_data_option
@database_option
def admin_token(rotate: bool, data_dir: Path | None, database_url: str | None) -> None:
    """Print the admin token kept with the data, or replace it with --rotate.

    Running servers take a rotated token within 5 seconds, without a restart; the old
    token and every login session stop working at once.
    """
    settings = _settings(data_dir=data_dir, database_url=database_url)
    if settings.admin_token:
        raise click.ClickException(
            "the admin token is set by AUDIENCE_ADMIN_TOKEN in this environment: it is not "
            "printed, and it is changed where it is set"
        )
    if not event_store_exists(settings):
        raise click.ClickException(f"no event store in {settings.data_dir}")
    with _open_store(settings) as store:
        if rotate:
            token, ended = rotate_admin_token(store)
            click.echo(token)
            click.echo(f"ended {ended} admin session(s)", err=True)
            return
        kept = store.get_meta(ADMIN_TOKEN_KEY)
    if kept is None:
        raise click.ClickException(
            "no admin token is kept yet: `audience serve` generates one on its first start, "
            "or run `audience admin token --rotate`"
        )
    click.echo(kept)
