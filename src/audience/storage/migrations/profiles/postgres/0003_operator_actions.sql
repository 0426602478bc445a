-- Operator merges and splits, each with who asked for it and why: inputs of the identity rule
-- like events, so a rebuild keeps them (clear never empties this table). The rules changed too
-- (an alias's previousId is typed from its own message; a user id's claims may be limited per
-- week, an edge past the limit marked ``over_limit``), so the graph is emptied and the resolver
-- rebuilds it from the first event (the recorded choices stay).
CREATE TABLE operator_actions (
    id bigserial PRIMARY KEY,
    action_id text COLLATE "C" NOT NULL UNIQUE,
    kind text COLLATE "C" NOT NULL,
    a_type text COLLATE "C" NOT NULL,
    a_value text COLLATE "C" NOT NULL,
    b_type text COLLATE "C",
    b_value text COLLATE "C",
    ord text COLLATE "C" NOT NULL,
    actor text NOT NULL,
    reason text NOT NULL
);
CREATE INDEX operator_actions_a ON operator_actions (a_type, a_value);
ALTER TABLE edges ADD COLUMN over_limit integer NOT NULL DEFAULT 0;
CREATE INDEX edges_claimed ON edges (b, kind, ord);
TRUNCATE identifiers, profiles, units, edges, links, identifier_traits, identifier_groups,
    group_traits, event_links, warnings;
DELETE FROM state WHERE name = 'cursor';
INSERT INTO state (name, value) VALUES ('generation', 1)
    ON CONFLICT (name) DO UPDATE SET value = state.value + 1;
