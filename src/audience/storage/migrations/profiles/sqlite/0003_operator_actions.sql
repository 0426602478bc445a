-- Operator merges and splits, each with who asked for it and why: inputs of the identity rule
-- like events, so a rebuild keeps them (clear never empties this table). The rules changed too
-- (an alias's previousId is typed from its own message; a user id's claims may be limited per
-- week, an edge past the limit marked ``over_limit``), so the graph is emptied and the resolver
-- rebuilds it from the first event (the recorded choices stay).
CREATE TABLE operator_actions (
    id INTEGER PRIMARY KEY,
    action_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    a_type TEXT NOT NULL,
    a_value TEXT NOT NULL,
    b_type TEXT,
    b_value TEXT,
    ord TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX operator_actions_a ON operator_actions (a_type, a_value);
ALTER TABLE edges ADD COLUMN over_limit INTEGER NOT NULL DEFAULT 0;
CREATE INDEX edges_claimed ON edges (b, kind, ord);
DELETE FROM identifiers;
DELETE FROM profiles;
DELETE FROM units;
DELETE FROM edges;
DELETE FROM links;
DELETE FROM identifier_traits;
DELETE FROM identifier_groups;
DELETE FROM group_traits;
DELETE FROM event_links;
DELETE FROM warnings;
DELETE FROM state WHERE name = 'cursor';
INSERT INTO state (name, value) VALUES ('generation', 1)
    ON CONFLICT (name) DO UPDATE SET value = value + 1;
