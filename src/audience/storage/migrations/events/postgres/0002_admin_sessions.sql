-- Admin login sessions (audience.storage.admin_sessions): only a hash of each session id is kept,
-- with when it began and when it was last used (seconds since the epoch).
CREATE TABLE admin_sessions (
    id_hash      text PRIMARY KEY,
    created_at   double precision NOT NULL,
    last_seen_at double precision NOT NULL
);
