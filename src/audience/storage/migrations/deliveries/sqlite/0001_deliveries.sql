-- Delivery state on SQLite: each destination's settings, cursor, open batches and outcomes.
-- Files written before versioned migrations are at version 0 and hold these tables already:
-- IF NOT EXISTS brings them to version 1 as they are.
CREATE TABLE IF NOT EXISTS destinations (
    name TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    position INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS cursors (
    destination TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    destination TEXT NOT NULL,
    seqs TEXT NOT NULL,
    events INTEGER NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS batches_by_destination ON batches (destination, state, id);
CREATE TABLE IF NOT EXISTS outcomes (
    destination TEXT PRIMARY KEY,
    delivered_events INTEGER NOT NULL DEFAULT 0,
    last_delivered_at REAL,
    last_error TEXT,
    last_error_at REAL
);
