-- The identity graph on PostgreSQL: the tables of audience.resolution.schema, with text compared
-- byte by byte (COLLATE "C") as SQLite does, since order keys are compared as text.
CREATE TABLE identifiers (
    id bigserial PRIMARY KEY,
    type text COLLATE "C" NOT NULL,
    value text COLLATE "C" NOT NULL,
    key text COLLATE "C" NOT NULL UNIQUE,
    profile bigint NOT NULL,
    cluster bigint NOT NULL,
    first_seen text COLLATE "C",
    last_seen text COLLATE "C",
    event_count bigint NOT NULL DEFAULT 0,
    UNIQUE (type, value)
);
CREATE INDEX identifiers_profile ON identifiers (profile);
CREATE INDEX identifiers_cluster ON identifiers (cluster);
CREATE TABLE profiles (
    id bigserial PRIMARY KEY,
    public_id text COLLATE "C" NOT NULL UNIQUE,
    anchor_type text COLLATE "C" NOT NULL,
    anchor_value text COLLATE "C" NOT NULL,
    cluster bigint NOT NULL,
    person text COLLATE "C",
    size bigint NOT NULL,
    last_seen text COLLATE "C"
);
CREATE INDEX profiles_cluster ON profiles (cluster);
CREATE INDEX profiles_last_seen ON profiles (last_seen);
CREATE TABLE clusters (
    id bigserial PRIMARY KEY,
    size bigint NOT NULL,
    user_ids bigint NOT NULL,
    newest text COLLATE "C"
);
CREATE TABLE links (
    id bigserial PRIMARY KEY,
    seq bigint NOT NULL,
    a bigint NOT NULL,
    b bigint NOT NULL,
    kind text COLLATE "C" NOT NULL,
    ord text COLLATE "C" NOT NULL,
    timestamp text COLLATE "C" NOT NULL,
    message_id text COLLATE "C" NOT NULL,
    status text COLLATE "C" NOT NULL,
    cluster bigint NOT NULL
);
CREATE INDEX links_cluster ON links (cluster);
CREATE INDEX links_a ON links (a);
CREATE INDEX links_b ON links (b);
CREATE TABLE identifier_traits (
    identifier bigint NOT NULL,
    name text COLLATE "C" NOT NULL,
    value text COLLATE "C" NOT NULL,
    ord text COLLATE "C" NOT NULL,
    PRIMARY KEY (identifier, name)
);
CREATE TABLE identifier_groups (
    identifier bigint NOT NULL,
    group_id text COLLATE "C" NOT NULL,
    ord text COLLATE "C" NOT NULL,
    PRIMARY KEY (identifier, group_id)
);
CREATE TABLE group_traits (
    group_id text COLLATE "C" NOT NULL,
    name text COLLATE "C" NOT NULL,
    value text COLLATE "C" NOT NULL,
    ord text COLLATE "C" NOT NULL,
    PRIMARY KEY (group_id, name)
);
CREATE TABLE event_links (
    seq bigint PRIMARY KEY,
    identifier bigint,
    ord text COLLATE "C" NOT NULL,
    timestamp text COLLATE "C" NOT NULL
);
CREATE INDEX event_links_identifier ON event_links (identifier, ord);
CREATE TABLE warnings (
    id bigserial PRIMARY KEY,
    seq bigint NOT NULL,
    kind text COLLATE "C" NOT NULL,
    message_id text COLLATE "C" NOT NULL,
    detail text NOT NULL
);
CREATE TABLE state (
    name text COLLATE "C" PRIMARY KEY,
    value bigint NOT NULL
);
