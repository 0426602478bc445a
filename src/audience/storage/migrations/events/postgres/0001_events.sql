-- The event log on PostgreSQL: sources, the append-only events table, settings kept with the data.
CREATE TABLE meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);
CREATE TABLE sources (
    id         bigserial,
    name       text PRIMARY KEY,
    write_key  text NOT NULL UNIQUE,
    created_at text NOT NULL
);
-- seq is drawn from events_seq only while the writer holds the commit lock (see
-- audience.storage.postgres), so seq order is commit order across every process.
CREATE SEQUENCE events_seq;
CREATE TABLE events (
    seq          bigint PRIMARY KEY DEFAULT nextval('events_seq'),
    source       text NOT NULL,
    message_id   text NOT NULL,
    type         text NOT NULL,
    user_id      text,
    anonymous_id text,
    event        text,
    received_at  text NOT NULL,
    timestamp    text,
    request_ip   text,
    message      bytea NOT NULL
);
ALTER SEQUENCE events_seq OWNED BY events.seq;
-- Deduplication: a message id is stored once per source, whenever it is resent.
CREATE UNIQUE INDEX events_by_message_id ON events (source, message_id);
