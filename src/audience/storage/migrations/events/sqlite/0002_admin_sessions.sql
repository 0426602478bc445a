-- Admin login sessions (audience.storage.admin_sessions): only a hash of each session id is kept,
-- with when it began and when it was last used (seconds since the epoch).
CREATE TABLE IF NOT EXISTS admin_sessions (
    id_hash      TEXT PRIMARY KEY,
    created_at   REAL NOT NULL,
    last_seen_at REAL NOT NULL
);
