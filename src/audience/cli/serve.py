"""``audience serve``: the collector with resolution, the destinations and the pages beside it."""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from audience import logs, shared_metrics
from audience.cli.options import (
    SETTING_HELP,
    data_option,
    database_option,
    setting_option,
    settings_of,
)
from audience.cli.stores import open_events
from audience.collector.app import FirstStart, prepare_data
from audience.collector.bundle import browser_snippets
from audience.config import SETTINGS, Settings
from audience.errors import AudienceError
from audience.http.admin_token import ADMIN_TOKEN_KEY
from audience.storage.serving_lock import ServingLock


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
@setting_option("host", "--host", shown_default="127.0.0.1")
@setting_option("port", "--port", type=int, shown_default="8000")
@data_option
@setting_option("public_url", "--public-url")
@click.option(
    "--browser-bundle",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    multiple=True,
    help=SETTING_HELP["browser_bundle"] + " Repeat for both clients.",
)
@click.option(
    "--trusted-proxy",
    "trusted_proxies",
    multiple=True,
    help=SETTING_HELP["trusted_proxies"] + " Repeat for several.",
)
@setting_option("log_level", "--log-level")
@setting_option("log_format", "--log-format", type=click.Choice(["plain", "json"]))
@database_option
@setting_option("workers", "--workers", type=click.IntRange(1, 64))
@setting_option("parse_user_agents", "--parse-user-agents", is_flag=True)
@setting_option(
    "geoip_db", "--geoip-db", type=click.Path(dir_okay=False, exists=True, path_type=Path)
)
@setting_option("drop_bots", "--drop-bots", is_flag=True)
@setting_option("retention_days", "--retention", type=click.IntRange(1, 36_500), metavar="DAYS")
@setting_option("log", "--log", metavar="nats://HOST:PORT[,HOST:PORT...]")
@setting_option("role", "--role", type=click.Choice(["all", "collector", "writer"]))
@setting_option("partitions", "--partitions", type=click.IntRange(1, 1024))
@setting_option("log_replicas", "--log-replicas", type=click.IntRange(1, 5))
@setting_option("log_prefix", "--log-prefix")
def serve(
    host: str | None,
    port: int | None,
    data_dir: Path | None,
    public_url: str | None,
    browser_bundle: tuple[Path, ...],
    trusted_proxies: tuple[str, ...],
    log_level: str | None,
    log_format: str | None,
    database_url: str | None,
    workers: int | None,
    parse_user_agents: bool | None,
    geoip_db: Path | None,
    drop_bots: bool | None,
    retention_days: int | None,
    log: str | None,
    role: str | None,
    partitions: int | None,
    log_replicas: int | None,
    log_prefix: str | None,
) -> None:
    """Start the collector on the SQLite store in the data folder, or on PostgreSQL.

    The first start creates a source named "default" and generates the admin token, and
    prints it; later starts say where it is kept (`audience admin token` prints it). Every
    start prints the write key of the first source and the browser snippet.
    """
    given: dict[str, Any] = {
        "host": host,
        "port": port,
        "data_dir": data_dir,
        "public_url": public_url,
        "browser_bundle": ",".join(map(str, browser_bundle)) if browser_bundle else None,
        "trusted_proxies": ",".join(trusted_proxies) if trusted_proxies else None,
        "log_level": log_level,
        "log_format": log_format,
        "database_url": database_url,
        "workers": workers,
        "parse_user_agents": parse_user_agents or None,
        "geoip_db": geoip_db,
        "drop_bots": drop_bots or None,
        "retention_days": retention_days,
        "log": log,
        "role": role,
        "partitions": partitions,
        "log_replicas": log_replicas,
        "log_prefix": log_prefix,
    }
    settings = settings_of(**given)
    if settings.workers > 1 and not settings.database_url:
        raise click.UsageError("--workers above 1 needs --database-url (PostgreSQL)")
    logs.configure(settings.log_level, settings.log_format, role="collector")
    # Held while serving, so that `audience restore` never replaces the files under the server.
    lock = ServingLock(settings.data_dir, exclusive=False)
    if not settings.database_url:
        try:
            lock.acquire()
        except AudienceError as exc:
            raise click.ClickException(str(exc)) from exc
    # Before any metric exists: every process started from here shares the metrics folder.
    metrics_folder = shared_metrics.prepare()
    try:
        _serve(settings, given)
    finally:
        shared_metrics.remove(metrics_folder)
        lock.release()


def _serve(settings: Settings, given: dict[str, Any]) -> None:
    from audience.http import uvicorn_server  # the server's modules load only to serve
    from audience.serving.app import SERVER_APP, build_server_app

    app: Any = None
    try:
        if settings.workers > 1:
            with open_events(settings) as store:
                first = prepare_data(store, settings)
        else:
            app, first = build_server_app(settings)
    except AudienceError as exc:
        raise click.ClickException(str(exc)) from exc
    reachable = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host  # noqa: S104
    origin = settings.public_url or f"http://{reachable}:{settings.port}"
    say = _announcer(settings)
    say(f"audience collector on http://{settings.host}:{settings.port}", url=origin)
    if settings.database_url:
        where = urlsplit(settings.database_url)
        say(f"data: PostgreSQL {where.hostname or 'local socket'}{where.path}")
    else:
        say(f"data: {settings.data_dir.resolve()}")
    if settings.log:
        say(
            f"log: {','.join(settings.log)} (stream {settings.log_prefix}, "
            f"{settings.partitions} partitions, role {settings.role})"
        )
    say(
        f"write key: {first.source.write_key}  (source {first.source.name})",
        writeKey=first.source.write_key,
        source=first.source.name,
    )
    say(f"admin token: {_token_notice(first, settings)}")
    try:
        snippets = browser_snippets(settings.browser_bundle, first.source.write_key, origin)
    except AudienceError as exc:
        raise click.ClickException(str(exc)) from exc
    if not snippets:
        say("browser snippet: start with --browser-bundle DIR to serve the script")
    for client, text in snippets:
        say(f"browser snippet ({client.package}):\n{text}", package=client.package, snippet=text)
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


def _announcer(settings: Settings) -> Callable[..., None]:
    """How ``serve`` tells what it started: printed lines, or log records in the JSON format
    (so that every line of its output is one object), the ``fields`` among their keys."""
    if settings.log_format != "json":
        return lambda message, **fields: click.echo(message)
    logger = logging.getLogger("audience.serve")
    return lambda message, **fields: logger.info(message, extra=fields)


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
