"""``audience admin``: the admin token of the admin API and the pages."""

from __future__ import annotations

from pathlib import Path

import click

from audience.cli.options import settings_of, store_options
from audience.cli.stores import open_events
from audience.http.admin_token import ADMIN_TOKEN_KEY, rotate_admin_token
from audience.storage.backend import event_store_exists


@click.group()
def admin() -> None:
    """The admin token of the admin API and the pages."""


@admin.command("token")
@click.option(
    "--rotate", is_flag=True, help="Make a new token and end every admin session everywhere."
)
@store_options
def admin_token(rotate: bool, data_dir: Path | None, database_url: str | None) -> None:
    """Print the admin token kept with the data, or replace it with --rotate.

    Running servers take a rotated token within 5 seconds, without a restart; the old
    token and every login session stop working at once.
    """
    settings = settings_of(data_dir=data_dir, database_url=database_url)
    if settings.admin_token:
        raise click.ClickException(
            "the admin token is set by AUDIENCE_ADMIN_TOKEN in this environment: it is not "
            "printed, and it is changed where it is set"
        )
    if not event_store_exists(settings):
        raise click.ClickException(f"no event store in {settings.data_dir}")
    with open_events(settings) as store:
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
