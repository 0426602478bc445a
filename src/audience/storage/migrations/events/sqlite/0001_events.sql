-- The event log on SQLite: sources, the append-only events table, settings kept with the data.
-- Files written before versioned migrations are at version 0 and hold these tables already:
-- IF NOT EXISTS brings them to version 1 as they are.
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sources (
    name       TEXT PRIMARY KEY,
    write_key  TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
-- seq is the rowid: one writer assigns it in commit order, so a reader that remembers the last
-- seq it handled resumes exactly there.
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
