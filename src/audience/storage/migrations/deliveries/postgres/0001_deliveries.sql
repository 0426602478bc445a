-- Delivery state on PostgreSQL: the tables of audience.destinations.delivery_store.
CREATE TABLE destinations (
    name text PRIMARY KEY,
    config text NOT NULL,
    position bigint NOT NULL,
    created_at double precision NOT NULL
);
CREATE TABLE cursors (
    destination text PRIMARY KEY,
    seq bigint NOT NULL
);
CREATE TABLE batches (
    id bigserial PRIMARY KEY,
    destination text NOT NULL,
    seqs text NOT NULL,
    events bigint NOT NULL,
    state text NOT NULL,
    attempts bigint NOT NULL DEFAULT 0,
    next_attempt_at double precision NOT NULL,
    last_error text,
    created_at double precision NOT NULL
);
CREATE INDEX batches_by_destination ON batches (destination, state, id);
CREATE TABLE outcomes (
    destination text PRIMARY KEY,
    delivered_events bigint NOT NULL DEFAULT 0,
    last_delivered_at double precision,
    last_error text,
    last_error_at double precision
);
