"""``audience backup`` and ``audience restore``: consistent copies of a SQLite data folder taken
while the server runs, and their restore into a folder no server is using."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Final

import click

from audience.cli.options import settings_of, store_options
from audience.destinations.sqlite_deliveries import BACKUP_FILE as DELIVERIES_FILE
from audience.errors import AudienceError
from audience.resolution.sqlite_profiles import BACKUP_FILE as PROFILES_FILE
from audience.storage import backups
from audience.storage.serving_lock import ServingLock
from audience.storage.sqlite_events import BACKUP_FILE as EVENTS_FILE

STORE_FILES: Final = (PROFILES_FILE, DELIVERIES_FILE, EVENTS_FILE)
"""Every store's file, in the order a backup copies them: the event store last, so that no
other copy reflects an event the events copy lacks."""

POSTGRES_ADVICE: Final = (
    "audience backup copies the SQLite files of a data folder; a PostgreSQL database is backed "
    "up with PostgreSQL's own tools, for instance\n"
    "  pg_dump --format=custom --file=audience.dump DATABASE_URL\n"
    "and restored into an empty database with\n"
    "  pg_restore --no-owner --dbname=DATABASE_URL audience.dump\n"
    "(pg_dump takes one consistent snapshot of every table; pg_basebackup copies the whole "
    "cluster)"
)


def _refuse_postgres(database_url: str | None) -> None:
    if settings_of(database_url=database_url).database_url:
        raise click.UsageError(POSTGRES_ADVICE)


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@store_options
def backup(directory: Path, data_dir: Path | None, database_url: str | None) -> None:
    """Copy every store of the data folder into the new folder DIRECTORY, with a manifest.

    The server may keep running: each file is copied as one consistent snapshot, the event
    store last, so that the copy of the profiles and of the delivery state never reflects an
    event the copy of the events lacks.
    """
    _refuse_postgres(database_url)
    settings = settings_of(data_dir=data_dir)
    try:
        manifest = backups.back_up(
            settings.data_dir,
            STORE_FILES,
            directory,
            audience_version=version("audience"),
            created_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        )
    except AudienceError as exc:
        raise click.ClickException(str(exc)) from exc
    for entry in manifest.files:
        click.echo(
            f"{entry.file_name}: {entry.size} bytes, schema {entry.schema_version}, "
            f"events up to #{entry.last_event_seq}"
        )
    click.echo(
        f"backed up {settings.data_dir} into {directory} (events up to #{manifest.last_event_seq})"
    )


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--force", is_flag=True, help="Replace the stores of a data folder that has some.")
@store_options
def restore(directory: Path, force: bool, data_dir: Path | None, database_url: str | None) -> None:
    """Restore the backup in DIRECTORY into the data folder, once its manifest checks out.

    No server may be running on the data folder; one that already holds stores is replaced only
    with --force. The profiles and destinations catch up with the restored events when the
    server starts (or with `audience resolve`).
    """
    _refuse_postgres(database_url)
    settings = settings_of(data_dir=data_dir)
    try:
        manifest = backups.verify(directory, STORE_FILES)
        with ServingLock(settings.data_dir, exclusive=True):
            present = backups.present_store_files(settings.data_dir, STORE_FILES)
            if present and not force:
                names = ", ".join(path.name for path in present)
                raise click.ClickException(
                    f"{settings.data_dir} already holds {names}: restore into an empty folder, "
                    "or add --force to replace them"
                )
            backups.restore(directory, manifest, settings.data_dir, STORE_FILES)
    except AudienceError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"restored {directory} (taken {manifest.created_at} by audience "
        f"{manifest.audience_version}, events up to #{manifest.last_event_seq}) into "
        f"{settings.data_dir}"
    )
