"""``audience destinations``: add, list, remove, inspect, replay and run destinations."""

from __future__ import annotations

import json
import secrets
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import click

from audience import logs
from audience.cli.options import store_options
from audience.cli.stores import delivery_stores, profile_reader
from audience.clock import SystemClock
from audience.config import load_settings
from audience.destinations.base import DestinationConfig, DestinationKind, DestinationPolicy
from audience.destinations.delivery_store import DeliveryStore
from audience.destinations.dispatcher import BackgroundDispatcher, Dispatcher
from audience.destinations.filters import EventFilter
from audience.destinations.registry import require_driver
from audience.destinations.relay import MAX_BATCH_BYTES, relay_url
from audience.destinations.rotation import rotated
from audience.destinations.standard_webhooks import secret_of
from audience.destinations.status import DestinationStatus, destination_statuses
from audience.destinations.transforms import load_transform
from audience.destinations.warehouse import schema_name
from audience.errors import AudienceError
from audience.tracking import MESSAGE_TYPES


@click.group("destinations")
def destinations() -> None:
    """Warehouse tables, webhooks and tracking APIs the committed events are delivered to."""


@destinations.command("add")
@click.argument("name")
@click.option("--webhook", "webhook_url", help="POST signed batches to this URL.")
@click.option("--secret", help="HMAC-SHA256 key of the webhook (default: generated, shown once).")
@click.option(
    "--relay",
    "relay_target",
    help="Forward events to a tracking API: an http(s) URL (a collector's root or its "
    "/v1/batch), or segment, customerio-us, customerio-eu, rudderstack:<data plane URL>.",
)
@click.option("--relay-key", help="The write key the relay authenticates with at the receiver.")
@click.option(
    "--gzip/--no-gzip",
    "compress",
    default=True,
    show_default=True,
    help="Relay: compress each request (Content-Encoding: gzip).",
)
@click.option("--postgres", "postgres_url", help="Load tables into this PostgreSQL database.")
@click.option("--duckdb", "duckdb_path", help="Load tables into this DuckDB file.")
@click.option("--schema", help="Warehouse schema (default: one schema per source, named after it).")
@click.option(
    "--people",
    is_flag=True,
    help="Warehouse: also keep the people tables, profiles and identities, current as "
    "profiles link, merge and split.",
)
@click.option(
    "--people-schema",
    help="Warehouse with --people: the schema of the people tables (default: people).",
)
@click.option("--source", help="Only the events of this source (default: every source).")
@click.option("--only-source", multiple=True, help="Only events of this source (repeatable).")
@click.option("--except-source", multiple=True, help="Skip events of this source (repeatable).")
@click.option(
    "--only-type",
    multiple=True,
    type=click.Choice(MESSAGE_TYPES),
    help="Only events of this type (repeatable).",
)
@click.option(
    "--except-type",
    multiple=True,
    type=click.Choice(MESSAGE_TYPES),
    help="Skip events of this type (repeatable).",
)
@click.option(
    "--only-event",
    multiple=True,
    help="Only tracks with this event name; other types pass (repeatable).",
)
@click.option(
    "--except-event", multiple=True, help="Skip tracks with this event name (repeatable)."
)
@click.option(
    "--transform",
    help="package.module:function that changes, splits or drops each event first.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 10_000),
    default=None,
    help="Events per batch (default: 100 for a webhook, 1000 for a warehouse).",
)
@click.option("--max-attempts", type=click.IntRange(1), default=10, show_default=True)
@click.option("--initial-backoff", type=click.FloatRange(0), default=1.0, show_default=True)
@click.option("--max-backoff", type=click.FloatRange(0), default=300.0, show_default=True)
@click.option("--timeout", type=click.FloatRange(0.1), default=10.0, show_default=True)
@click.option(
    "--max-body-bytes",
    type=click.IntRange(1024),
    default=None,
    help="Webhook, relay: split a batch into requests no larger than this "
    "(default: 500 KB for a webhook, 475,000 bytes for a relay).",
)
@click.option(
    "--start",
    type=click.Choice(["beginning", "now"]),
    default="beginning",
    show_default=True,
    help="Deliver the events already stored, or only those that arrive from now on.",
)
@store_options
def add(
    name: str,
    webhook_url: str | None,
    secret: str | None,
    relay_target: str | None,
    relay_key: str | None,
    compress: bool,
    postgres_url: str | None,
    duckdb_path: str | None,
    schema: str | None,
    people: bool,
    people_schema: str | None,
    source: str | None,
    only_source: tuple[str, ...],
    except_source: tuple[str, ...],
    only_type: tuple[str, ...],
    except_type: tuple[str, ...],
    only_event: tuple[str, ...],
    except_event: tuple[str, ...],
    transform: str | None,
    batch_size: int | None,
    max_attempts: int,
    initial_backoff: float,
    max_backoff: float,
    timeout: float,
    max_body_bytes: int | None,
    start: str,
    data_dir: Path | None,
    database_url: str | None,
) -> None:
    """Add the destination NAME: one of --webhook, --relay, --postgres or --duckdb."""
    targets = [t for t in (webhook_url, relay_target, postgres_url, duckdb_path) if t]
    if len(targets) != 1:
        raise click.UsageError("give exactly one of --webhook, --relay, --postgres or --duckdb")
    if relay_key and not relay_target:
        raise click.UsageError("--relay-key goes with --relay")
    kind: DestinationKind
    options: dict[str, Any]
    generated = False
    if webhook_url:
        kind = "webhook"
        generated = secret is None
        secret = secret or new_secret()
        options = {
            "url": webhook_url,
            "secret": secret,
            "timeout": timeout,
            "max_body_bytes": max_body_bytes or 500 * 1024,
        }
    elif relay_target:
        if not relay_key:
            raise click.UsageError("--relay needs --relay-key, the receiver's write key")
        try:
            url = relay_url(relay_target)
        except AudienceError as exc:
            raise click.UsageError(str(exc)) from exc
        kind = "relay"
        options = {
            "url": url,
            "write_key": relay_key,
            "gzip": compress,
            "timeout": timeout,
            "max_body_bytes": max_body_bytes or MAX_BATCH_BYTES,
        }
    elif postgres_url:
        kind, options = "postgres", {"url": postgres_url}
    else:
        kind, options = "duckdb", {"path": str(Path(str(duckdb_path)).resolve())}
    if schema and kind in ("postgres", "duckdb"):
        options["schema"] = schema
    if (people or people_schema) and kind not in ("postgres", "duckdb"):
        raise click.UsageError("--people goes with --postgres or --duckdb")
    if people_schema and not people:
        raise click.UsageError("--people-schema goes with --people")
    if people:
        options["people"] = True
        if people_schema:
            options["people_schema"] = schema_name(people_schema)
    try:
        config = DestinationConfig(
            name=name,
            kind=kind,
            options=options,
            source=source,
            delivery=DestinationPolicy(
                max_attempts,
                initial_backoff,
                max_backoff,
                batch_size or (100 if kind in ("webhook", "relay") else 1000),
                # Many senders share a webhook's or a tracking API's receiver: spread retries.
                jitter="equal" if kind in ("webhook", "relay") else "none",
            ),
            filters=EventFilter.of(
                only_sources=only_source,
                except_sources=except_source,
                only_types=only_type,
                except_types=except_type,
                only_events=only_event,
                except_events=except_event,
            ),
            transform=transform,
        )
        require_driver(config)
        if transform is not None:
            load_transform(transform)
    except AudienceError as exc:
        raise click.UsageError(str(exc)) from exc
    with delivery_stores(data_dir=data_dir, database_url=database_url) as (state, events):
        cursor = events.last_seq() if start == "now" else 0
        state.add(config, cursor, SystemClock().now().timestamp())
    click.echo(f"added {kind} destination {name}")
    if generated:
        click.echo(f"signing secret (shown once): {secret}")


def new_secret() -> str:
    """A new signing secret: 32 random bytes in the Standard Webhooks form, ``whsec_<base64>``."""
    return secret_of(secrets.token_bytes(32))


@destinations.command("rotate-secret")
@click.argument("name")
@click.option(
    "--overlap",
    type=click.FloatRange(0),
    default=24.0,
    show_default=True,
    help="Hours during which the old secret signs too (0: the new one alone, at once).",
)
@click.option("--secret", help="The new secret (default: generated, shown once).")
@store_options
def rotate_secret(
    name: str,
    overlap: float,
    secret: str | None,
    data_dir: Path | None,
    database_url: str | None,
) -> None:
    """Give the webhook NAME a new signing secret; the old one keeps signing for --overlap hours."""
    generated = secret is None
    secret = secret or new_secret()
    now = SystemClock().now().timestamp()
    with delivery_stores(data_dir=data_dir, database_url=database_url) as (state, _):
        try:
            state.replace_config(rotated(state.config(name), secret, now, overlap * 3600))
        except AudienceError as exc:
            raise click.UsageError(str(exc)) from exc
    if overlap:
        until = _when(now + overlap * 3600)
        click.echo(f"{name} signs with the new and the old secret until {until}")
    else:
        click.echo(f"{name} signs with the new secret only")
    if generated:
        click.echo(f"signing secret (shown once): {secret}")


@destinations.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@store_options
def list_(as_json: bool, data_dir: Path | None, database_url: str | None) -> None:
    """List the destinations with their settings (secrets hidden)."""
    with delivery_stores(data_dir=data_dir, database_url=database_url) as (state, _):
        configs = [config.redacted() for config in state.configs()]
    if as_json:
        click.echo(json.dumps(configs, indent=2))
        return
    if not configs:
        click.echo("no destinations")
    for config in configs:
        options = config["options"]
        target = options.get("url") or options.get("path")
        source = config["source"] or "every source"
        line = f"{config['name']}\t{config['kind']}\t{target}\t{source}"
        rules = "; ".join(f"{rule} {','.join(names)}" for rule, names in config["filters"].items())
        if rules:
            line += f"\t{rules}"
        if config["transform"]:
            line += f"\ttransform {config['transform']}"
        click.echo(line)


@destinations.command("remove")
@click.argument("name")
@store_options
def remove(name: str, data_dir: Path | None, database_url: str | None) -> None:
    """Remove the destination NAME, with its cursor and dead letters."""
    with delivery_stores(data_dir=data_dir, database_url=database_url) as (state, _):
        state.remove(name)
    click.echo(f"removed destination {name}")


@destinations.command("status")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@store_options
def status(
    name: str | None, as_json: bool, data_dir: Path | None, database_url: str | None
) -> None:
    """Show delivery progress: cursor, lag, pending and dead-lettered batches, last error.

    With NAME, also list that destination's dead-lettered batches.
    """
    with delivery_stores(data_dir=data_dir, database_url=database_url) as (state, events):
        statuses = [s for s in destination_statuses(state, events) if name in (None, s.name)]
        dead = state.dead_letters(name) if name is not None else []
    if name is not None and not statuses:
        raise click.ClickException(f"no destination is named {name!r}")
    if as_json:
        click.echo(json.dumps([s.to_json() for s in statuses], indent=2))
        return
    for item in statuses:
        click.echo(_status_line(item))
    for batch in dead:
        click.echo(
            f"  dead letter: batch {batch.id}, {len(batch.seqs)} events (log positions "
            f"{batch.seqs[0]}-{batch.seqs[-1]}), {batch.attempts} attempts: {batch.last_error}"
        )


def _status_line(item: DestinationStatus) -> str:
    line = (
        f"{item.name} ({item.kind}): cursor {item.cursor}, lag {item.lag}, "
        f"delivered {item.delivered_events}, pending {item.pending_events} in "
        f"{item.pending_batches} batches, dead letters {item.dead_events} in "
        f"{item.dead_batches} batches"
    )
    if item.last_delivered_at is not None:
        line += f", last delivery {_when(item.last_delivered_at)}"
    if item.last_error is not None and item.last_error_at is not None:
        line += f"\n  last error {_when(item.last_error_at)}: {item.last_error}"
    return line


def _when(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@destinations.command("replay")
@click.argument("name")
@click.option("--batch", "batch_ids", type=int, multiple=True, help="Only this batch (repeatable).")
@click.option(
    "--queue",
    is_flag=True,
    help="Put the batches back in line for the running worker, with fresh retries, "
    "instead of sending them now.",
)
@store_options
def replay(
    name: str,
    batch_ids: tuple[int, ...],
    queue: bool,
    data_dir: Path | None,
    database_url: str | None,
) -> None:
    """Send the dead-lettered batches of NAME again, now."""
    with (
        delivery_stores(data_dir=data_dir, database_url=database_url) as (state, events),
        profile_reader(data_dir=data_dir, database_url=database_url) as profiles,
    ):
        if queue:
            _requeue(state, name, batch_ids)
            return
        dispatcher = Dispatcher(events, state, SystemClock(), people=profiles)
        try:
            results = dispatcher.replay(name, batch_ids)
        finally:
            dispatcher.close()
    if not results:
        click.echo(f"{name} has no dead-lettered batches")
    failed = 0
    for result in results:
        if result.delivered:
            click.echo(f"batch {result.batch_id}: {result.events} events delivered")
        else:
            failed += 1
            click.echo(f"batch {result.batch_id}: failed again: {result.error}")
    if failed:
        raise click.ClickException(f"{failed} batches are still dead-lettered")


def _requeue(state: DeliveryStore, name: str, batch_ids: tuple[int, ...]) -> None:
    state.config(name)  # an unknown name is an error, not an empty replay
    now = SystemClock().now().timestamp()
    batches = [b for b in state.dead_letters(name) if not batch_ids or b.id in batch_ids]
    for batch in batches:
        state.requeue(batch, now)
    click.echo(f"{len(batches)} dead-lettered batches of {name} are back in line")


@destinations.command("run")
@click.option(
    "--idle-interval",
    type=click.FloatRange(0.01),
    default=0.5,
    show_default=True,
    help="Seconds between looks at the event log when there is nothing to do.",
)
@store_options
def run(idle_interval: float, data_dir: Path | None, database_url: str | None) -> None:
    """Deliver to every destination until stopped (SIGINT or SIGTERM).

    `audience serve` runs the same worker in the background; this runs it on its own.
    """
    stop = threading.Event()

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    settings = load_settings(overrides={"data_dir": data_dir, "database_url": database_url})
    logs.configure(settings.log_level, settings.log_format, role="dispatcher")
    with (
        delivery_stores(data_dir=data_dir, database_url=database_url) as (state, events),
        profile_reader(data_dir=data_dir, database_url=database_url) as profiles,
    ):
        worker = BackgroundDispatcher(
            Dispatcher(events, state, SystemClock(), people=profiles), idle_interval=idle_interval
        )
        worker.start()
        try:
            while not stop.wait(1.0):
                pass
        finally:
            worker.stop()
