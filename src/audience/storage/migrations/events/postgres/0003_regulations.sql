-- Privacy regulations (audience.storage.regulations): the audit of each request, the subjects it
-- names while it runs, and the suppression list. Personal values are kept only in
-- regulation_subjects, and only until their regulation ends; the audit and the suppression list
-- hold HMAC-SHA256 digests keyed with the installation's secret (meta 'privacy_secret').
CREATE TABLE IF NOT EXISTS regulations (
    id             text PRIMARY KEY,
    type           text NOT NULL,
    subject_type   text NOT NULL,
    subject_hashes text NOT NULL,
    requested_by   text NOT NULL,
    requested_via  text NOT NULL,
    requested_at   text NOT NULL,
    status         text NOT NULL,
    steps          text NOT NULL,
    finished_at    text,
    error          text,
    lease_owner    text,
    lease_until    double precision
);
CREATE INDEX IF NOT EXISTS regulations_by_status ON regulations (status, requested_at);
CREATE TABLE IF NOT EXISTS regulation_subjects (
    regulation text NOT NULL,
    kind       text NOT NULL,
    value      text NOT NULL,
    PRIMARY KEY (regulation, kind, value)
);
CREATE TABLE IF NOT EXISTS suppressions (
    hash       text PRIMARY KEY,
    regulation text NOT NULL,
    created_at text NOT NULL
);
-- Every change of the suppression list adds one here: each process polls it to know when to
-- read the list again.
CREATE TABLE IF NOT EXISTS privacy_state (
    name  text PRIMARY KEY,
    value bigint NOT NULL
);
INSERT INTO privacy_state (name, value) VALUES ('suppression_changes', 0)
    ON CONFLICT (name) DO NOTHING;
