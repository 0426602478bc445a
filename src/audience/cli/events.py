"""``audience events``: print the stored events (``tail``), write them to a file (``export``) and
import a file of them (``replay``, also ``audience replay``)."""

from __future__ import annotations

import contextlib
import hashlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, Final, cast

import click
import orjson

from audience.cli.options import settings_of, store_options
from audience.cli.resolve import catch_up, progress_bar
from audience.cli.stores import open_events
from audience.clock import SystemClock, UuidFactory
from audience.collector.ingest import Ingestor, Limits, Submission
from audience.errors import AudienceError, ValidationError
from audience.privacy.parts import privacy_parts
from audience.privacy.runner import record_gate_requests
from audience.resolution.backend import open_profile_store
from audience.resolution.resolver import Resolver
from audience.storage import exports
from audience.storage.backend import event_store_exists
from audience.storage.base import EventFilter, EventRange
from audience.timestamps import format_instant, parse_instant

FOLLOW_POLL_SECONDS: Final = 0.5
"""Seconds ``tail --follow`` waits when no new event has come."""

REPLAY_BATCH: Final = 500
"""Messages handed to the ingest path at a time by ``replay``."""


@click.group()
def events() -> None:
    """Read the stored events, and import a file of them (`replay`)."""


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
@store_options
def tail(
    source: str | None,
    limit: int,
    follow: bool,
    max_events: int | None,
    data_dir: Path | None,
    database_url: str | None,
) -> None:
    """Print the newest stored events, oldest first, one JSON object a line."""
    settings = settings_of(data_dir=data_dir, database_url=database_url)
    if not event_store_exists(settings):
        raise click.ClickException(f"no event store in {settings.data_dir}")
    with open_events(settings) as store:
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


def _instant(option: str, text: str | None) -> str | None:
    """``text`` in the stored form of ``receivedAt``; a bad one is a usage error naming it."""
    if text is None:
        return None
    try:
        return format_instant(parse_instant(text, option))
    except ValidationError as exc:
        raise click.BadParameter(exc.reason, param_hint=option) from exc


@contextlib.contextmanager
def _opened(output: str) -> Iterator[BinaryIO]:
    if output == "-":
        yield sys.stdout.buffer
        return
    with Path(output).open("wb") as handle:
        yield handle


@events.command("export")
@click.option(
    "--format",
    "export_format",
    type=click.Choice(exports.FORMATS),
    default="jsonl",
    show_default=True,
    help="jsonl: each message as stored; csv and parquet: fixed columns (see the README).",
)
@click.option("--since", default=None, help="Only events received at or after this instant.")
@click.option("--until", default=None, help="Only events received before this instant.")
@click.option("--source", default=None, help="Only events of this source.")
@click.option(
    "-o", "--output", default="-", show_default=True, help="The file to write; - is stdout."
)
@store_options
def export(
    export_format: str,
    since: str | None,
    until: str | None,
    source: str | None,
    output: str,
    data_dir: Path | None,
    database_url: str | None,
) -> None:
    """Write the stored events in seq order, page by page, as JSON lines, CSV or Parquet.

    --since and --until compare with receivedAt (ISO 8601; without an offset, UTC). The export
    stops at the newest event stored when it began. A progress bar goes to stderr when it is a
    terminal.
    """
    event_range = EventRange(source, _instant("--since", since), _instant("--until", until))
    settings = settings_of(data_dir=data_dir, database_url=database_url)
    if not event_store_exists(settings):
        raise click.ClickException(f"no event store in {settings.data_dir}")
    if export_format == "parquet" and output == "-" and sys.stdout.isatty():
        raise click.UsageError("parquet is binary: give --output FILE or redirect stdout")
    try:
        exports.require_format(cast(exports.ExportFormat, export_format))
    except AudienceError as exc:
        raise click.ClickException(str(exc)) from exc
    with open_events(settings) as store:
        if source is not None and store.source_by_name(source) is None:
            raise click.ClickException(f"no source called {source!r}")
        last = store.last_seq()
        event_range = EventRange(event_range.source, event_range.since, event_range.until, last)
        try:
            with _export_progress() as progress, _opened(output) as handle:
                task = progress.add_task("exporting", total=last)
                written = exports.export(
                    store,
                    event_range,
                    handle,
                    cast(exports.ExportFormat, export_format),
                    on_page=lambda event: progress.update(task, completed=event.seq),
                )
                progress.update(task, completed=last)
        except AudienceError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"exported {written} event(s) up to #{last}", err=True)


def _export_progress() -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TimeRemainingColumn

    console = Console(stderr=True)
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        "seq {task.completed}/{task.total}",
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
    )


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
@store_options
def replay(
    file: Path, source_name: str | None, data_dir: Path | None, database_url: str | None
) -> None:
    """Import FILE.jsonl (one message or batch body a line) through the ingest path.

    Messages are validated and enriched like live traffic; a message whose messageId is
    already stored is skipped, so replaying a file twice stores nothing new. Profiles are
    brought up to date afterwards.
    """
    settings = settings_of(data_dir=data_dir, database_url=database_url)
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    events = open_events(settings)
    totals = {"stored": 0, "duplicates": 0, "dropped": 0}
    try:
        source = events.source_by_name(source_name) if source_name else None
        if source is None:
            listed = events.list_sources()
            if source_name or not listed:
                raise click.ClickException(f"no source {source_name or 'yet'}: create one first")
            source = listed[0]
        clock = SystemClock()
        privacy = privacy_parts(events, clock=clock, ids=UuidFactory())
        ingestor = Ingestor(
            events,
            clock=clock,
            ids=UuidFactory(),
            limits=Limits(settings.max_event_bytes, settings.max_batch_events),
            gate=privacy.gate,
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
            record_gate_requests(privacy.gate, events, privacy.desk, clock)

        with progress_bar() as progress, file.open("rb") as lines:
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
            catch_up(Resolver(events, profile_store), events, "resolving")
        finally:
            profile_store.close()
    finally:
        events.close()


events.add_command(replay)
