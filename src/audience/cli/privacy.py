"""``audience privacy``: delete, suppress and unsuppress people, and read the regulations' audit.

``delete``, ``suppress`` and ``unsuppress`` record one regulation per subject type named and,
unless ``--no-wait``, run it in this process until it ends (a running ``audience serve`` would
take it up too; the regulation's lease lets only one of them run it).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import click

from audience.cli.options import settings_of, store_options
from audience.cli.stores import profile_stores
from audience.clock import SystemClock, UuidFactory
from audience.destinations.backend import open_delivery_store
from audience.errors import AudienceError, ValidationError
from audience.privacy.desk import RegulationDesk
from audience.privacy.regulations import (
    Regulation,
    RegulationRequest,
    RegulationType,
    Requester,
    RequesterKind,
    Status,
    SubjectType,
    clean_subject_ids,
)
from audience.privacy.runner import RegulationRunner, local_owner
from audience.privacy.suppression import SuppressionList

FILE_PREFIXES: Final = {
    "user-id": SubjectType.USER_ID,
    "anonymous-id": SubjectType.ANONYMOUS_ID,
    "email": SubjectType.EMAIL,
    "profile": SubjectType.PROFILE_ID,
}
"""The first word of a line of ``--file``, and the subject type it names."""


@click.group()
def privacy() -> None:
    """Delete, suppress and unsuppress people; list the regulations and follow one."""


def _subject_options(function: Any) -> Any:
    for option in reversed(
        [
            click.option("--user-id", "user_ids", multiple=True, help="A user id (repeatable)."),
            click.option("--anonymous-id", "anonymous_ids", multiple=True, help="An anonymous id."),
            click.option("--email", "emails", multiple=True, help="An email address."),
            click.option("--profile", "profiles", multiple=True, help="A profile id."),
            click.option(
                "--file",
                "id_file",
                type=click.Path(exists=True, dir_okay=False, path_type=Path),
                help="One subject a line: 'user-id X', 'anonymous-id X', 'email X' or "
                "'profile X' ('#' starts a comment).",
            ),
            click.option(
                "--wait/--no-wait",
                default=True,
                show_default=True,
                help="Run the regulation here until it ends.",
            ),
        ]
    ):
        function = option(function)
    return store_options(function)


def _subjects(
    user_ids: tuple[str, ...],
    anonymous_ids: tuple[str, ...],
    emails: tuple[str, ...],
    profiles: tuple[str, ...],
    id_file: Path | None,
) -> dict[SubjectType, list[str]]:
    named: dict[SubjectType, list[str]] = {
        SubjectType.USER_ID: list(user_ids),
        SubjectType.ANONYMOUS_ID: list(anonymous_ids),
        SubjectType.EMAIL: list(emails),
        SubjectType.PROFILE_ID: list(profiles),
    }
    if id_file is not None:
        for number, line in enumerate(id_file.read_text("utf-8").splitlines(), start=1):
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            prefix, _, value = text.partition(" ")
            if prefix not in FILE_PREFIXES or not value.strip():
                raise click.UsageError(
                    f"{id_file}:{number}: expected 'user-id X', 'anonymous-id X', 'email X' or "
                    "'profile X'"
                )
            named[FILE_PREFIXES[prefix]].append(value.strip())
    chosen = {kind: ids for kind, ids in named.items() if ids}
    if not chosen:
        raise click.UsageError(
            "name someone: --user-id, --anonymous-id, --email, --profile or --file"
        )
    return chosen


def _regulate(kind: RegulationType, given: dict[str, Any]) -> None:
    subjects = _subjects(
        given["user_ids"],
        given["anonymous_ids"],
        given["emails"],
        given["profiles"],
        given["id_file"],
    )
    requests = []
    for subject_type, ids in subjects.items():
        try:
            requests.append(
                RegulationRequest(kind, subject_type, clean_subject_ids(ids, subject_type))
            )
        except ValidationError as exc:
            flag = {v: k for k, v in FILE_PREFIXES.items()}[subject_type]
            raise click.UsageError(f"--{flag}: {exc.reason}") from exc
    settings = settings_of(data_dir=given["data_dir"], database_url=given["database_url"])
    with profile_stores(settings) as (events, profiles):
        try:
            desk = RegulationDesk(events, clock=SystemClock(), ids=UuidFactory())
            requester = Requester(RequesterKind.CLI, socket.gethostname())
            made = [desk.request(request, requester) for request in requests]
            if given["wait"]:
                deliveries = open_delivery_store(settings)
                try:
                    runner = RegulationRunner(
                        events,
                        profiles,
                        deliveries,
                        desk=desk,
                        suppressions=SuppressionList(events, desk.secret),
                        gate=None,
                        clock=SystemClock(),
                        owner=local_owner(UuidFactory().new()),
                        resolver_wait_seconds=0.0,
                    )
                    for regulation in made:
                        runner.run(regulation.id)
                finally:
                    deliveries.close()
                made = [desk.get(regulation.id) or regulation for regulation in made]
        except AudienceError as exc:
            raise click.ClickException(str(exc)) from exc
    for regulation in made:
        _print(regulation)
    if any(regulation.status is Status.FAILED for regulation in made):
        raise click.ClickException("a regulation failed")


def _print(regulation: Regulation) -> None:
    click.echo(
        f"{regulation.id}\t{regulation.type.value}\t{regulation.subject_type.value} "
        f"x{len(regulation.subject_hashes)}\t{regulation.status.value}"
    )
    for step in regulation.steps:
        click.echo(f"  {step.name:<11} {step.state:<8} {step.count}")
    if regulation.error:
        click.echo(f"  error: {regulation.error}")


@privacy.command("delete")
@click.option(
    "--and-suppress/--accept-later",
    default=False,
    help="Also drop their future events (SUPPRESS_WITH_DELETE); default DELETE_ONLY.",
)
@_subject_options
def delete(and_suppress: bool, **given: Any) -> None:
    """Delete everything stored about the people named, in every store and destination."""
    kind = RegulationType.SUPPRESS_WITH_DELETE if and_suppress else RegulationType.DELETE_ONLY
    _regulate(kind, given)


@privacy.command("suppress")
@_subject_options
def suppress(**given: Any) -> None:
    """Drop the future events of the people named (what is stored stays)."""
    _regulate(RegulationType.SUPPRESS, given)


@privacy.command("unsuppress")
@_subject_options
def unsuppress(**given: Any) -> None:
    """Accept the events of the people named again."""
    _regulate(RegulationType.UNSUPPRESS, given)


@contextmanager
def _reading(data_dir: Path | None, database_url: str | None) -> Iterator[RegulationDesk]:
    settings = settings_of(data_dir=data_dir, database_url=database_url)
    with profile_stores(settings) as (events, _):
        try:
            yield RegulationDesk(events, clock=SystemClock(), ids=UuidFactory())
        except AudienceError as exc:
            raise click.ClickException(str(exc)) from exc


@privacy.command("list")
@click.option("-n", "--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@store_options
def list_regulations(limit: int, data_dir: Path | None, database_url: str | None) -> None:
    """List the regulations, newest first."""
    with _reading(data_dir, database_url) as desk:
        for regulation in desk.list(limit):
            click.echo(
                f"{regulation.id}\t{regulation.type.value}\t{regulation.status.value}\t"
                f"{regulation.requested_at}\t{regulation.requester.kind.value}"
            )


@privacy.command("status")
@click.argument("regulation_id")
@store_options
def status(regulation_id: str, data_dir: Path | None, database_url: str | None) -> None:
    """Print one regulation with its progress step by step."""
    with _reading(data_dir, database_url) as desk:
        regulation = desk.get(regulation_id)
    if regulation is None:
        raise click.ClickException(f"no regulation is named {regulation_id!r}")
    _print(regulation)
