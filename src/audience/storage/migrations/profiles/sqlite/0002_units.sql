-- The identity graph resolved one unit at a time: clusters and stored link statuses give way to
-- units, distinct edges and shared identifiers. Profiles are derived from the event log, so the
-- graph is emptied and the resolver rebuilds it from the first event (the recorded choices stay).
DROP TABLE IF EXISTS identifiers;
DROP TABLE IF EXISTS profiles;
DROP TABLE IF EXISTS clusters;
DROP TABLE IF EXISTS links;
DROP TABLE IF EXISTS units;
DROP TABLE IF EXISTS edges;
DELETE FROM identifier_traits;
DELETE FROM identifier_groups;
DELETE FROM group_traits;
DELETE FROM event_links;
DELETE FROM warnings;
CREATE TABLE identifiers (
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
CREATE INDEX identifiers_profile ON identifiers (profile, last_seen);
CREATE INDEX identifiers_unit ON identifiers (unit);
CREATE TABLE profiles (
    id INTEGER PRIMARY KEY,
    public_id TEXT NOT NULL UNIQUE,
    anchor_type TEXT NOT NULL,
    anchor_value TEXT NOT NULL,
    size INTEGER NOT NULL,
    last_seen TEXT
);
CREATE INDEX profiles_last_seen ON profiles (last_seen);
CREATE TABLE units (
    id INTEGER PRIMARY KEY,
    links INTEGER NOT NULL DEFAULT 0,
    members INTEGER NOT NULL DEFAULT 1,
    person INTEGER,
    contested INTEGER NOT NULL DEFAULT 0,
    split INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE edges (
    id INTEGER PRIMARY KEY,
    a INTEGER NOT NULL,
    b INTEGER NOT NULL,
    kind TEXT NOT NULL,
    ord TEXT NOT NULL,
    UNIQUE (a, b)
);
CREATE INDEX edges_claims ON edges (a, kind, ord);
CREATE INDEX edges_b ON edges (b);
CREATE TABLE links (
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
CREATE INDEX links_a ON links (a);
CREATE INDEX links_b ON links (b);
DELETE FROM state WHERE name = 'cursor';
INSERT INTO state (name, value) VALUES ('generation', 1)
    ON CONFLICT (name) DO UPDATE SET value = value + 1;
