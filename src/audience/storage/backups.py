"""Backups of a SQLite data folder: consistent copies of every store file, and their restore.

Each file is copied with SQLite's online backup API in one step: the copy is the database as
one read transaction saw it, while the server keeps writing (WAL lets it). The files are
copied in the order given, the event store last: the event log only grows, so the events copy
holds every event the profile and delivery copies had seen, and their cursors are never ahead
of it. After a restore the resolver and the dispatcher carry on from their cursors and catch
up with the events copied after them.

A backup folder holds the copies (each a single file, its journal in ``DELETE`` mode) and
``manifest.json``, written last, so a backup cut short has no manifest and is never restored.
The manifest records, for each file, its schema version, the last event it reflects, its size
and its SHA-256; ``verify`` checks all of it before a restore.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import orjson

from audience.errors import StorageError
from audience.storage.migration_files import migrations

MANIFEST_NAME: Final = "manifest.json"
"""The manifest's file name inside a backup folder."""

MANIFEST_FORMAT: Final = 1
"""The version of the manifest's layout; a restore refuses any other."""

EVENTS: Final = "events"
"""The store whose copy is the reference: every other file's position is at most its own."""

_CHUNK: Final = 1 << 20


@dataclass(frozen=True)
class StoreFile:
    """A store's SQLite file in the data folder.

    ``store`` is the migrations' name for it (``events``, ``profiles``, ``deliveries``);
    ``position`` a query giving the last event ``seq`` the file reflects (0 when none).
    """

    store: str
    file_name: str
    position: str


@dataclass(frozen=True)
class BackedUpFile:
    """One copied file as the manifest records it."""

    store: str
    file_name: str
    schema_version: int
    last_event_seq: int
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """What a backup holds: when and by which release it was taken, and each copied file."""

    format: int
    audience_version: str
    created_at: str
    files: tuple[BackedUpFile, ...]

    @property
    def last_event_seq(self) -> int:
        """The position of the newest event in the copy of the event store."""
        return next(file.last_event_seq for file in self.files if file.store == EVENTS)

    def to_json(self) -> bytes:
        """The manifest as indented JSON."""
        return orjson.dumps(
            {**asdict(self), "last_event_seq": self.last_event_seq}, option=orjson.OPT_INDENT_2
        )

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        """The manifest of ``raw``; ``StorageError`` names what is missing or malformed."""
        try:
            data: Any = orjson.loads(raw)
            if data.get("format") != MANIFEST_FORMAT:
                raise StorageError(
                    f"the manifest's format is {data.get('format')!r}, this audience reads "
                    f"format {MANIFEST_FORMAT}"
                )
            files = tuple(BackedUpFile(**entry) for entry in data["files"])
            manifest = cls(
                format=data["format"],
                audience_version=str(data["audience_version"]),
                created_at=str(data["created_at"]),
                files=files,
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise StorageError(f"the manifest is malformed: {exc!r}") from exc
        if sum(file.store == EVENTS for file in files) != 1:
            raise StorageError("the manifest must list exactly one copy of the event store")
        return manifest


def back_up(
    data_dir: Path,
    files: Sequence[StoreFile],
    target: Path,
    *,
    audience_version: str,
    created_at: str,
) -> Manifest:
    """Copy each of ``files`` that exists in ``data_dir`` into the new folder ``target``, in
    order (the event store last), then write the manifest.

    ``target`` must be missing or empty. The event store must exist; a store not created yet
    (no destination ever configured, say) is left out of the backup.
    """
    if [file.store for file in files][-1:] != [EVENTS]:
        raise StorageError("the event store must be copied last")
    if not (data_dir / files[-1].file_name).exists():
        raise StorageError(f"no event store in {data_dir}")
    if target.exists() and any(target.iterdir()):
        raise StorageError(f"{target} is not empty: back up into a new folder")
    target.mkdir(parents=True, exist_ok=True)
    copied = tuple(
        _copy(data_dir / file.file_name, target, file)
        for file in files
        if (data_dir / file.file_name).exists()
    )
    manifest = Manifest(MANIFEST_FORMAT, audience_version, created_at, copied)
    _write_durably(target / MANIFEST_NAME, manifest.to_json())
    return manifest


def _copy(source_path: Path, target: Path, file: StoreFile) -> BackedUpFile:
    copy_path = target / file.file_name
    try:
        source = sqlite3.connect(source_path, timeout=10)
        try:
            copy = sqlite3.connect(copy_path, isolation_level=None)
            try:
                source.backup(copy)  # every page in one step: one consistent read
                copy.execute("PRAGMA journal_mode=DELETE")
                version = int(copy.execute("PRAGMA user_version").fetchone()[0])
                position = int(copy.execute(file.position).fetchone()[0] or 0)
            finally:
                copy.close()
        finally:
            source.close()
    except sqlite3.Error as exc:
        raise StorageError(f"backing up {source_path} failed: {exc}") from exc
    size, digest = _digest(copy_path)
    return BackedUpFile(file.store, file.file_name, version, position, size, digest)


def read_manifest(backup_dir: Path) -> Manifest:
    """The manifest of the backup in ``backup_dir``."""
    try:
        raw = (backup_dir / MANIFEST_NAME).read_bytes()
    except FileNotFoundError as exc:
        raise StorageError(
            f"{backup_dir} holds no {MANIFEST_NAME}: not a backup, or one cut short"
        ) from exc
    return Manifest.from_json(raw)


def verify(backup_dir: Path, files: Sequence[StoreFile]) -> Manifest:
    """The manifest of ``backup_dir`` once every copy checks out against it.

    Each copy must be a known store, have the size and SHA-256 recorded, a schema version this
    audience can open, and reflect no event beyond the event store's copy.
    """
    manifest = read_manifest(backup_dir)
    known = {file.file_name: file.store for file in files}
    for entry in manifest.files:
        if known.get(entry.file_name) != entry.store:
            raise StorageError(f"the backup holds {entry.file_name}, not a store of this audience")
        path = backup_dir / entry.file_name
        if not path.exists():
            raise StorageError(f"{entry.file_name} is missing from the backup")
        if _digest(path) != (entry.size, entry.sha256):
            raise StorageError(f"{entry.file_name} differs from the manifest: the copy is damaged")
        latest = migrations(entry.store, "sqlite")[-1].version
        if entry.schema_version > latest:
            raise StorageError(
                f"{entry.file_name} is at schema version {entry.schema_version}, newer than "
                f"this audience's {latest}: restore it with the release that took it "
                f"({manifest.audience_version}) or newer"
            )
        if entry.last_event_seq > manifest.last_event_seq:
            raise StorageError(
                f"{entry.file_name} reflects events up to #{entry.last_event_seq}, beyond the "
                f"event store's copy (#{manifest.last_event_seq}): the backup is inconsistent"
            )
    return manifest


def present_store_files(data_dir: Path, files: Sequence[StoreFile]) -> list[Path]:
    """The store files (with their WAL companions) that exist in ``data_dir``."""
    found: list[Path] = []
    for file in files:
        for suffix in ("", "-wal", "-shm"):
            path = data_dir / f"{file.file_name}{suffix}"
            if path.exists():
                found.append(path)
    return found


def restore(
    backup_dir: Path, manifest: Manifest, data_dir: Path, files: Sequence[StoreFile]
) -> None:
    """Put the verified backup's copies in ``data_dir``, replacing its store files.

    The caller holds the data folder's serving lock exclusively. A store the backup does not
    hold is removed, so no cursor is left ahead of the restored events. Each copy is written
    beside its place, synced, then renamed over it, after its stale WAL files are removed.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    backed_up = {entry.file_name for entry in manifest.files}
    for path in present_store_files(data_dir, files):
        if path.name.endswith(("-wal", "-shm")) or path.name not in backed_up:
            path.unlink()
    for entry in manifest.files:
        staged = data_dir / f"{entry.file_name}.restoring"
        with (backup_dir / entry.file_name).open("rb") as source, staged.open("wb") as target:
            shutil.copyfileobj(source, target, _CHUNK)
            target.flush()
            os.fsync(target.fileno())
        os.replace(staged, data_dir / entry.file_name)
    _sync_folder(data_dir)


def _digest(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _write_durably(path: Path, content: bytes) -> None:
    staged = path.with_name(path.name + ".partial")
    with staged.open("wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(staged, path)
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
