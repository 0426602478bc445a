-- Privacy regulations (audience.storage.regulations): the audit of each request, the subjects it
-- names while it runs, and the suppression list. Personal values are kept only in
-- regulation_subjects, and only until their regulation ends; the audit and the suppression list
-- hold HMAC-SHA256 digests keyed with the installation's secret (meta 'privacy_secret').
CREATE TABLE IF NOT EXISTS regulations (
    id             TEXT PRIMARY KEY,
    type           TEXT NOT NULL,
    subject_type   TEXT NOT NULL,
    subject_hashes TEXT NOT NULL,
    requested_by   TEXT NOT NULL,
    requested_via  TEXT NOT NULL,
    requested_at   TEXT NOT NULL,
    status         TEXT NOT NULL,
    steps          TEXT NOT NULL,
    finished_at    TEXT,
    error          TEXT,
    lease_owner    TEXT,
    lease_until    REAL
);
CREATE INDEX IF NOT EXISTS regulations_by_status ON regulations (status, requested_at);
CREATE TABLE IF NOT EXISTS regulation_subjects (
    regulation TEXT NOT NULL,
    kind       TEXT NOT NULL,
    value      TEXT NOT NULL,
    PRIMARY KEY (regulation, kind, value)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS suppressions (
    hash       TEXT PRIMARY KEY,
    regulation TEXT NOT NULL,
    created_at TEXT NOT NULL
) WITHOUT ROWID;
-- Every change of the suppression list adds one here: each process polls it to know when to
-- read the list again.
CREATE TABLE IF NOT EXISTS privacy_state (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO privacy_state (name, value) VALUES ('suppression_changes', 0)
    ON CONFLICT (name) DO NOTHING;
