"""Regulations and the suppression list, kept in the event store's database.

Both event stores keep the ``regulations``, ``regulation_subjects``, ``suppressions`` and
``privacy_state`` tables (migrations ``events/sqlite/0004`` and ``events/postgres/0003``) and
run the statements of :class:`SqlRegulations` on them. The rows are plain text here: what a
regulation means is decided by :mod:`audience.privacy`.

Leases. Every collector process runs regulations; a process takes one by writing its name and
a time limit over an expired lease in one statement (``claim_regulation``), so two processes
on one PostgreSQL database never run the same regulation at once, and a regulation whose
process died is taken up by another once its lease runs out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Protocol

from audience.errors import StorageError
from audience.storage.dialect import SqlDialect

CHUNK: Final = 500
"""Values one statement names at most."""

_COLUMNS: Final = (
    "id, type, subject_type, subject_hashes, requested_by, requested_via, requested_at, "
    "status, steps, finished_at, error"
)


@dataclass(frozen=True)
class RegulationRow:
    """One audited regulation as stored; ``subject_hashes`` and ``steps`` are JSON text."""

    id: str
    type: str
    subject_type: str
    subject_hashes: str
    requested_by: str
    requested_via: str
    requested_at: str
    status: str
    steps: str
    finished_at: str | None = None
    error: str | None = None


class RegulationStore(Protocol):
    """Where regulations, the subjects they name while they run, and suppressions are kept."""

    def add_regulation(self, row: RegulationRow, subjects: Sequence[tuple[str, str]]) -> None:
        """Keep a new regulation and the ``(kind, value)`` subjects it names."""
        ...

    def regulation(self, regulation_id: str) -> RegulationRow | None:
        """One regulation, if it is kept."""
        ...

    def list_regulations(self, limit: int, before: str | None = None) -> list[RegulationRow]:
        """Up to ``limit`` regulations, newest first, requested before ``before`` when given."""
        ...

    def running_regulations(self) -> list[str]:
        """The ids of the regulations still running, oldest first."""
        ...

    def claim_regulation(self, regulation_id: str, owner: str, now: float, until: float) -> bool:
        """Take the regulation's lease for ``owner`` until ``until`` if no other process holds
        it at ``now``; ``True`` when ``owner`` holds it."""
        ...

    def release_regulation(self, regulation_id: str, owner: str) -> None:
        """Give up ``owner``'s lease (a process stopping mid-run): another may take it at once."""
        ...

    def lease_owner(self, regulation_id: str) -> str | None:
        """Who holds the regulation's lease, if anyone (it may have run out)."""
        ...

    def update_regulation(
        self,
        regulation_id: str,
        *,
        status: str,
        steps: str,
        finished_at: str | None = None,
        error: str | None = None,
    ) -> None:
        """Record a regulation's progress (and, once ended, its outcome)."""
        ...

    def regulation_subjects(self, regulation_id: str) -> list[tuple[str, str]]:
        """The ``(kind, value)`` subjects a running regulation names."""
        ...

    def add_regulation_subjects(
        self, regulation_id: str, subjects: Iterable[tuple[str, str]]
    ) -> None:
        """Add subjects to a running regulation (those already there are kept once)."""
        ...

    def forget_regulation_subjects(self, regulation_id: str) -> None:
        """Drop the personal values of an ended regulation: only the audit stays."""
        ...

    def add_suppressions(self, hashes: Iterable[str], regulation_id: str, at: str) -> int:
        """Suppress identifiers by their digests; returns how many were new."""
        ...

    def add_linked_suppressions(self, hashes: Iterable[str], seen_with: str, at: str) -> int:
        """Suppress digests seen beside the suppressed ``seen_with``, under its regulation;
        returns how many were new (none when ``seen_with`` is no longer suppressed)."""
        ...

    def lift_suppressions(self, hashes: Iterable[str]) -> int:
        """Lift the suppression of these digests and of every digest suppressed by the same
        regulations (the person's other identifiers); returns how many were lifted."""
        ...

    def lift_regulation(self, regulation_id: str) -> int:
        """Lift only what the regulation itself suppressed (a ``DELETE_ONLY`` ending: an earlier
        suppression of the same person stays); returns how many were lifted."""
        ...

    def suppression_changes(self) -> int:
        """A number that grows with every change of the suppression list."""
        ...

    def suppressed_hashes(self) -> set[str]:
        """Every suppressed digest."""
        ...


class SqlRegulations:
    """:class:`RegulationStore` on a store's own connections (mixed into the event stores).

    The store supplies ``_dialect``, ``_reader`` (a pooled autocommit connection) and
    ``_query`` (rows of one statement, driver errors as ``StorageError``).
    """

    _dialect: ClassVar[SqlDialect]

    def _reader(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _query(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    def _write(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """Run ``sql`` once per row of parameters; the number of rows changed."""
        changed = 0
        try:
            with self._reader() as connection:
                for parameters in rows:
                    changed += max(0, int(connection.execute(sql, parameters).rowcount))
        except self._dialect.failure as exc:
            raise StorageError(f"writing the regulations failed: {exc}") from exc
        return changed

    def add_regulation(self, row: RegulationRow, subjects: Sequence[tuple[str, str]]) -> None:
        """Keep the subjects first, then the regulation: a runner that sees the regulation
        always sees what it names."""
        self.add_regulation_subjects(row.id, subjects)
        marks = self._dialect.marks(11)
        self._write(
            f"INSERT INTO regulations ({_COLUMNS}) VALUES ({marks})",
            [
                (
                    row.id,
                    row.type,
                    row.subject_type,
                    row.subject_hashes,
                    row.requested_by,
                    row.requested_via,
                    row.requested_at,
                    row.status,
                    row.steps,
                    row.finished_at,
                    row.error,
                )
            ],
        )

    def regulation(self, regulation_id: str) -> RegulationRow | None:
        rows = self._query(
            f"SELECT {_COLUMNS} FROM regulations WHERE id = {self._dialect.mark}",
            (regulation_id,),
        )
        return RegulationRow(*rows[0]) if rows else None

    def list_regulations(self, limit: int, before: str | None = None) -> list[RegulationRow]:
        m = self._dialect.mark
        where, parameters = "", list[Any]([limit])
        if before is not None:
            where, parameters = f"WHERE id < {m}", [before, limit]
        rows = self._query(
            f"SELECT {_COLUMNS} FROM regulations {where} ORDER BY id DESC LIMIT {m}", parameters
        )
        return [RegulationRow(*row) for row in rows]

    def running_regulations(self) -> list[str]:
        rows = self._query(
            "SELECT id FROM regulations WHERE status = 'RUNNING' ORDER BY requested_at, id"
        )
        return [str(row[0]) for row in rows]

    def claim_regulation(self, regulation_id: str, owner: str, now: float, until: float) -> bool:
        m = self._dialect.mark
        return bool(
            self._write(
                f"UPDATE regulations SET lease_owner = {m}, lease_until = {m} "
                f"WHERE id = {m} AND status = 'RUNNING' AND (lease_owner IS NULL "
                f"OR lease_owner = {m} OR lease_until < {m})",
                [(owner, until, regulation_id, owner, now)],
            )
        )

    def lease_owner(self, regulation_id: str) -> str | None:
        rows = self._query(
            f"SELECT lease_owner FROM regulations WHERE id = {self._dialect.mark}",
            (regulation_id,),
        )
        return str(rows[0][0]) if rows and rows[0][0] is not None else None

    def release_regulation(self, regulation_id: str, owner: str) -> None:
        m = self._dialect.mark
        self._write(
            "UPDATE regulations SET lease_owner = NULL, lease_until = NULL "
            f"WHERE id = {m} AND lease_owner = {m}",
            [(regulation_id, owner)],
        )

    def update_regulation(
        self,
        regulation_id: str,
        *,
        status: str,
        steps: str,
        finished_at: str | None = None,
        error: str | None = None,
    ) -> None:
        m = self._dialect.mark
        self._write(
            f"UPDATE regulations SET status = {m}, steps = {m}, finished_at = {m}, error = {m} "
            f"WHERE id = {m}",
            [(status, steps, finished_at, error, regulation_id)],
        )

    def regulation_subjects(self, regulation_id: str) -> list[tuple[str, str]]:
        rows = self._query(
            "SELECT kind, value FROM regulation_subjects "
            f"WHERE regulation = {self._dialect.mark} ORDER BY kind, value",
            (regulation_id,),
        )
        return [(str(kind), str(value)) for kind, value in rows]

    def add_regulation_subjects(
        self, regulation_id: str, subjects: Iterable[tuple[str, str]]
    ) -> None:
        m = self._dialect.mark
        self._write(
            "INSERT INTO regulation_subjects (regulation, kind, value) "
            f"VALUES ({m}, {m}, {m}) ON CONFLICT DO NOTHING",
            [(regulation_id, kind, value) for kind, value in subjects],
        )

    def forget_regulation_subjects(self, regulation_id: str) -> None:
        forgotten = self._write(
            f"DELETE FROM regulation_subjects WHERE regulation = {self._dialect.mark}",
            [(regulation_id,)],
        )
        if forgotten:
            self._scrub()

    def _scrub(self) -> None:
        """Make deleted rows leave the database's files (the event store's way)."""

    def add_suppressions(self, hashes: Iterable[str], regulation_id: str, at: str) -> int:
        m = self._dialect.mark
        added = self._write(
            f"INSERT INTO suppressions (hash, regulation, created_at) VALUES ({m}, {m}, {m}) "
            "ON CONFLICT DO NOTHING",
            [(digest, regulation_id, at) for digest in hashes],
        )
        self._count_change()
        return added

    def add_linked_suppressions(self, hashes: Iterable[str], seen_with: str, at: str) -> int:
        m = self._dialect.mark
        added = self._write(
            "INSERT INTO suppressions (hash, regulation, created_at) "
            f"SELECT {m}, regulation, {m} FROM suppressions WHERE hash = {m} "
            "ON CONFLICT DO NOTHING",
            [(digest, at, seen_with) for digest in hashes],
        )
        self._count_change()
        return added

    def lift_suppressions(self, hashes: Iterable[str]) -> int:
        m = self._dialect.mark
        lifted = 0
        for chunk in _chunks(sorted(set(hashes))):
            marks = self._dialect.marks(len(chunk))
            regulations = [
                str(row[0])
                for row in self._query(
                    f"SELECT DISTINCT regulation FROM suppressions WHERE hash IN ({marks})", chunk
                )
            ]
            lifted += self._write(f"DELETE FROM suppressions WHERE hash IN ({marks})", [chunk])
            lifted += self._write(
                f"DELETE FROM suppressions WHERE regulation = {m}",
                [(regulation,) for regulation in regulations],
            )
        self._count_change()
        return lifted

    def lift_regulation(self, regulation_id: str) -> int:
        lifted = self._write(
            f"DELETE FROM suppressions WHERE regulation = {self._dialect.mark}", [(regulation_id,)]
        )
        self._count_change()
        return lifted

    def suppression_changes(self) -> int:
        rows = self._query("SELECT value FROM privacy_state WHERE name = 'suppression_changes'")
        return int(rows[0][0]) if rows else 0

    def suppressed_hashes(self) -> set[str]:
        return {str(row[0]) for row in self._query("SELECT hash FROM suppressions")}

    def _count_change(self) -> None:
        # Counted after the change, so a process that reads the new count reads the new list.
        self._write(
            "UPDATE privacy_state SET value = value + 1 WHERE name = 'suppression_changes'", [()]
        )


def _chunks(values: Sequence[str]) -> list[list[str]]:
    return [list(values[start : start + CHUNK]) for start in range(0, len(values), CHUNK)]
