-- The identity graph resolved one unit at a time: clusters and stored link statuses give way to
-- units, distinct edges and shared identifiers. Profiles are derived from the event log, so the
-- graph is emptied and the resolver rebuilds it from the first event (the recorded choices stay).
DROP TABLE identifiers, profiles, clusters, links;
TRUNCATE identifier_traits, identifier_groups, group_traits, event_links, warnings;
CREATE TABLE identifiers (
    id bigserial PRIMARY KEY,
    type text COLLATE "C" NOT NULL,
    value text COLLATE "C" NOT NULL,
    key text COLLATE "C" NOT NULL UNIQUE,
    profile bigint NOT NULL,
    unit bigint,
    user_links bigint NOT NULL DEFAULT 0,
    shared integer NOT NULL DEFAULT 0,
    first_seen text COLLATE "C",
    last_seen text COLLATE "C",
    event_count bigint NOT NULL DEFAULT 0,
    UNIQUE (type, value)
);
CREATE INDEX identifiers_profile ON identifiers (profile, last_seen);
CREATE INDEX identifiers_unit ON identifiers (unit);
CREATE TABLE profiles (
    id bigserial PRIMARY KEY,
    public_id text COLLATE "C" NOT NULL UNIQUE,
    anchor_type text COLLATE "C" NOT NULL,
    anchor_value text COLLATE "C" NOT NULL,
    size bigint NOT NULL,
    last_seen text COLLATE "C"
);
CREATE INDEX profiles_last_seen ON profiles (last_seen);
CREATE TABLE units (
    id bigserial PRIMARY KEY,
    links bigint NOT NULL DEFAULT 0,
    members bigint NOT NULL DEFAULT 1,
    person bigint,
    contested integer NOT NULL DEFAULT 0,
    split integer NOT NULL DEFAULT 0
);
CREATE TABLE edges (
    id bigserial PRIMARY KEY,
    a bigint NOT NULL,
    b bigint NOT NULL,
    kind text COLLATE "C" NOT NULL,
    ord text COLLATE "C" NOT NULL,
    UNIQUE (a, b)
);
CREATE INDEX edges_claims ON edges (a, kind, ord);
CREATE INDEX edges_b ON edges (b);
CREATE TABLE links (
    id bigserial PRIMARY KEY,
    seq bigint NOT NULL,
    a bigint NOT NULL,
    b bigint NOT NULL,
    kind text COLLATE "C" NOT NULL,
    ord text COLLATE "C" NOT NULL,
    timestamp text COLLATE "C" NOT NULL,
    message_id text COLLATE "C" NOT NULL,
    edge bigint NOT NULL
);
CREATE INDEX links_a ON links (a);
CREATE INDEX links_b ON links (b);
DELETE FROM state WHERE name = 'cursor';
INSERT INTO state (name, value) VALUES ('generation', 1)
    ON CONFLICT (name) DO UPDATE SET value = state.value + 1;
