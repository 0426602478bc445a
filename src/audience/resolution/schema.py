"""The profile database's tables, as one script that creates whatever is missing.

- ``identifiers``: each with its profile, what it has seen, and for an anonymous id or email its
  unit, how many distinct user ids it is linked to and whether that makes it shared;
- ``profiles``: one row per connected component (a profile whose best identifier is a user id
  is a person's);
- ``units``: anonymous ids and emails joined by email links (each anonymous id or email starts as
  a unit of its own): the unit recomputed when a link arrives out of order, with its number of
  distinct links, whether it is still claimed by one person only, and whether it is over its cap;
- ``edges``: each distinct pair of linked identifiers with the order key of its first link (later
  links of a pair repeat its outcome), ``claim`` edges written (anonymous id or email, user id);
- ``links``: every link with its edge (the merge log; a link's outcome is read from the profiles);
- ``identifier_traits``, ``identifier_groups``, ``group_traits``: folded by order key;
- ``event_links``: each event and the identifier that linked it;
- ``warnings``; ``state``: the cursor, the generation ``clear`` bumps, the ``link_email`` choice
  and the limits the profiles were built with.

``SCHEMA_VERSION`` is kept in ``state``: a profile file of an older layout is emptied and rebuilt
from the event log (profiles are derived data), keeping the recorded choices.
"""

from __future__ import annotations

from typing import Final

SCHEMA_VERSION: Final = 2
"""The layout below; 1 was the layout with clusters and stored link statuses."""

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS identifiers (
    id INTEGER PRIMARY KEY,
    type TEXT NOT NULL,
    value TEXT NOT NULL,
    key TEXT NOT NULL UNIQUE,
    profile INTEGER NOT NULL,
    unit INTEGER,
    user_links INTEGER NOT NULL DEFAULT 0,
    shared INTEGER NOT NULL DEFAULT 0,
    first_seen TEXT,
    last_seen TEXT,
    event_count INTEGER NOT NULL DEFAULT 0,
    UNIQUE (type, value)
);
CREATE INDEX IF NOT EXISTS identifiers_profile ON identifiers (profile, last_seen);
CREATE INDEX IF NOT EXISTS identifiers_unit ON identifiers (unit);
CREATE TABLE IF NOT EXISTS profiles (
    id INTEGER PRIMARY KEY,
    public_id TEXT NOT NULL UNIQUE,
    anchor_type TEXT NOT NULL,
    anchor_value TEXT NOT NULL,
    size INTEGER NOT NULL,
    last_seen TEXT
);
CREATE INDEX IF NOT EXISTS profiles_last_seen ON profiles (last_seen);
CREATE TABLE IF NOT EXISTS units (
    id INTEGER PRIMARY KEY,
    links INTEGER NOT NULL DEFAULT 0,
    members INTEGER NOT NULL DEFAULT 1,
    person INTEGER,
    contested INTEGER NOT NULL DEFAULT 0,
    split INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS edges (
    id INTEGER PRIMARY KEY,
    a INTEGER NOT NULL,
    b INTEGER NOT NULL,
    kind TEXT NOT NULL,
    ord TEXT NOT NULL,
    UNIQUE (a, b)
);
CREATE INDEX IF NOT EXISTS edges_claims ON edges (a, kind, ord);
CREATE INDEX IF NOT EXISTS edges_b ON edges (b);
CREATE TABLE IF NOT EXISTS links (
    id INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL,
    a INTEGER NOT NULL,
    b INTEGER NOT NULL,
    kind TEXT NOT NULL,
    ord TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    message_id TEXT NOT NULL,
    edge INTEGER NOT NULL
);
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
    "units",
    "edges",
    "links",
    "identifier_traits",
    "identifier_groups",
    "group_traits",
    "event_links",
    "warnings",
    "state",
)

OLD_TABLES: Final = ("clusters",)
"""Tables of older layouts, dropped when a profile file is brought to ``SCHEMA_VERSION``."""
