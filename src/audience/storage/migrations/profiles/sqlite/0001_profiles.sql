-- The identity graph's first layout (clusters and stored link statuses), which 0002 replaces.
-- Files written before versioned migrations are at version 0 and hold some of these tables
-- already: IF NOT EXISTS keeps them for 0002, which rebuilds the graph from the event log.
CREATE TABLE IF NOT EXISTS identifiers (
    id INTEGER PRIMARY KEY,
    type TEXT NOT NULL,
    value TEXT NOT NULL,
    key TEXT NOT NULL UNIQUE,
    profile INTEGER NOT NULL,
    cluster INTEGER NOT NULL,
    first_seen TEXT,
    last_seen TEXT,
    event_count INTEGER NOT NULL DEFAULT 0,
    UNIQUE (type, value)
);
CREATE TABLE IF NOT EXISTS profiles (
    id INTEGER PRIMARY KEY,
    public_id TEXT NOT NULL UNIQUE,
    anchor_type TEXT NOT NULL,
    anchor_value TEXT NOT NULL,
    cluster INTEGER NOT NULL,
    person TEXT,
    size INTEGER NOT NULL,
    last_seen TEXT
);
CREATE TABLE IF NOT EXISTS clusters (
    id INTEGER PRIMARY KEY,
    size INTEGER NOT NULL,
    user_ids INTEGER NOT NULL,
    newest TEXT
);
CREATE TABLE IF NOT EXISTS links (
    id INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL,
    a INTEGER NOT NULL,
    b INTEGER NOT NULL,
    kind TEXT NOT NULL,
    ord TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    message_id TEXT NOT NULL,
    status TEXT NOT NULL,
    cluster INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS identifier_traits (
    identifier INTEGER NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    ord TEXT NOT NULL,
    PRIMARY KEY (identifier, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS identifier_groups (
    identifier INTEGER NOT NULL,
    group_id TEXT NOT NULL,
    ord TEXT NOT NULL,
    PRIMARY KEY (identifier, group_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_traits (
    group_id TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    ord TEXT NOT NULL,
    PRIMARY KEY (group_id, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS event_links (
    seq INTEGER PRIMARY KEY,
    identifier INTEGER,
    ord TEXT NOT NULL,
    timestamp TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS event_links_identifier ON event_links (identifier, ord);
CREATE TABLE IF NOT EXISTS warnings (
    id INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    message_id TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS state (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
