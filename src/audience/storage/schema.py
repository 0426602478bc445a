"""The SQLite schema of the event store, applied idempotently when a store opens."""

from __future__ import annotations

from typing import Final

SCHEMA_VERSION: Final = 1

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sources (
    name       TEXT PRIMARY KEY,
    write_key  TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
-- The append-only event log. seq is the rowid: one writer assigns it in commit order,
-- so a reader that remembers the last seq it handled resumes exactly there.
CREATE TABLE IF NOT EXISTS events (
    seq          INTEGER PRIMARY KEY,
    source       TEXT NOT NULL,
    message_id   TEXT NOT NULL,
    type         TEXT NOT NULL,
    user_id      TEXT,
    anonymous_id TEXT,
    event        TEXT,
    received_at  TEXT NOT NULL,
    timestamp    TEXT,
    request_ip   TEXT,
    message      BLOB NOT NULL
);
-- Deduplication: a message id is stored once per source, whenever it is resent.
CREATE UNIQUE INDEX IF NOT EXISTS events_by_message_id ON events (source, message_id);
-- Admin login sessions (audience.storage.admin_sessions): only a hash of each session id.
CREATE TABLE IF NOT EXISTS admin_sessions (
    id_hash      TEXT PRIMARY KEY,
    created_at   REAL NOT NULL,
    last_seen_at REAL NOT NULL
);
"""
