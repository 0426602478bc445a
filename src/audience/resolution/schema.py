"""The profile database's tables, as one script that creates whatever is missing.

- ``identifiers``: each with its profile, its cluster and what it has seen;
- ``profiles``: one row per connected component;
- ``clusters``: identifiers connected by any link, refused ones included (the unit recomputed
  when an older link arrives late);
- ``links``: every link with its outcome, joined, redundant or refused (the merge log);
- ``identifier_traits``, ``identifier_groups``, ``group_traits``: folded by order key;
- ``event_links``: each event and the identifier that linked it;
- ``warnings``; ``state``: the cursor, the generation ``clear`` bumps, the ``link_email`` choice.
"""

from __future__ import annotations

from typing import Final

SCHEMA: Final = """
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
CREATE INDEX IF NOT EXISTS identifiers_profile ON identifiers (profile);
CREATE INDEX IF NOT EXISTS identifiers_cluster ON identifiers (cluster);
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
CREATE INDEX IF NOT EXISTS profiles_cluster ON profiles (cluster);
CREATE INDEX IF NOT EXISTS profiles_last_seen ON profiles (last_seen);
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
CREATE INDEX IF NOT EXISTS links_cluster ON links (cluster);
CREATE INDEX IF NOT EXISTS links_a ON links (a);
CREATE INDEX IF NOT EXISTS links_b ON links (b);
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
"""

TABLES: Final = (
    "identifiers",
    "profiles",
    "clusters",
    "links",
    "identifier_traits",
    "identifier_groups",
    "group_traits",
    "event_links",
    "warnings",
    "state",
)
