"""The regulation desk: where requests are taken and read back, audited without personal values.

A request becomes a ``RUNNING`` regulation at once (its subjects kept, as values, only until it
ends); a :class:`~audience.privacy.runner.RegulationRunner` of any process runs it.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Final, Protocol

import orjson

from audience.clock import Clock, IdFactory
from audience.errors import StorageError
from audience.privacy.regulations import (
    Regulation,
    RegulationRequest,
    RegulationType,
    Requester,
    RequesterKind,
    Status,
    Step,
    SubjectType,
    steps_for,
    subject_hash,
)
from audience.storage.base import Source
from audience.storage.regulations import RegulationRow, RegulationStore
from audience.timestamps import format_utc

SECRET_KEY: Final = "privacy_secret"  # noqa: S105 (the name of the setting)
"""The ``meta`` key of the installation's secret that keys every digest."""


class PrivacyStore(RegulationStore, Protocol):
    """The event store as privacy uses it: regulations, suppressions, settings and deletion."""

    def set_meta_once(self, key: str, value: str) -> str:
        """Keep ``value`` under ``key`` unless one is kept; return the kept value."""
        ...

    def delete_events(
        self,
        *,
        user_ids: Sequence[str] = (),
        anonymous_ids: Sequence[str] = (),
        seqs: Sequence[int] = (),
    ) -> list[int]:
        """Delete the events carrying these ids or at these positions; the positions deleted."""
        ...

    def last_seq(self) -> int:
        """The position of the newest committed event."""
        ...

    def list_sources(self) -> list[Source]:
        """Every source (each has a schema of its own in a warehouse)."""
        ...


def installation_secret(store: PrivacyStore) -> bytes:
    """The secret every digest is keyed with: made on first use and kept in the store, so every
    process of the installation uses the same one."""
    return bytes.fromhex(store.set_meta_once(SECRET_KEY, secrets.token_hex(32)))


class RegulationDesk:
    """Takes regulation requests and reads regulations back."""

    def __init__(self, store: PrivacyStore, *, clock: Clock, ids: IdFactory) -> None:
        self._store = store
        self._clock = clock
        self._ids = ids
        self.secret = installation_secret(store)

    def request(self, request: RegulationRequest, requester: Requester) -> Regulation:
        """Record ``request`` as a running regulation and return it."""
        now = self._clock.now()
        regulation = Regulation(
            id=f"reg_{now:%Y%m%d%H%M%S%f}_{self._ids.new().replace('-', '')[:8]}",
            type=request.type,
            subject_type=request.subject_type,
            subject_hashes=tuple(
                subject_hash(self.secret, request.subject_type, value)
                for value in request.subject_ids
            ),
            requester=requester,
            requested_at=format_utc(now),
            steps=tuple(Step(name) for name in steps_for(request.type)),
        )
        self._store.add_regulation(
            to_row(regulation), [("subject", value) for value in request.subject_ids]
        )
        return regulation

    def get(self, regulation_id: str) -> Regulation | None:
        """One regulation, if it is kept."""
        row = self._store.regulation(regulation_id)
        return from_row(row) if row is not None else None

    def list(self, limit: int, before: str | None = None) -> list[Regulation]:
        """Up to ``limit`` regulations, newest first, older than ``before`` when given."""
        return [from_row(row) for row in self._store.list_regulations(limit, before)]


def to_row(regulation: Regulation) -> RegulationRow:
    """The stored form of a regulation."""
    return RegulationRow(
        id=regulation.id,
        type=regulation.type.value,
        subject_type=regulation.subject_type.value,
        subject_hashes=orjson.dumps(list(regulation.subject_hashes)).decode(),
        requested_by=regulation.requester.kind.value,
        requested_via=regulation.requester.source,
        requested_at=regulation.requested_at,
        status=regulation.status.value,
        steps=steps_json(regulation.steps),
        finished_at=regulation.finished_at,
        error=regulation.error,
    )


def steps_json(steps: Sequence[Step]) -> str:
    """The stored form of a regulation's progress."""
    return orjson.dumps([step.to_json() for step in steps]).decode()


def from_row(row: RegulationRow) -> Regulation:
    """The regulation a stored row holds."""
    try:
        steps = tuple(
            Step(
                str(s["name"]),
                str(s["state"]),
                int(s["count"]),
                tuple(sorted((str(k), int(v)) for k, v in s.get("detail", {}).items())),
            )
            for s in orjson.loads(row.steps)
        )
        return Regulation(
            id=row.id,
            type=RegulationType(row.type),
            subject_type=SubjectType(row.subject_type),
            subject_hashes=tuple(orjson.loads(row.subject_hashes)),
            requester=Requester(RequesterKind(row.requested_by), row.requested_via),
            requested_at=row.requested_at,
            status=Status(row.status),
            steps=steps,
            finished_at=row.finished_at,
            error=row.error,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise StorageError(f"regulation {row.id} cannot be read: {exc}") from exc
