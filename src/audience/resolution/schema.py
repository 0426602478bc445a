"""The profile database's tables (their schema is in ``storage/migrations/profiles/``).

- ``identifiers``: each with its profile, what it has seen, and for an anonymous id or email its
  unit, how many distinct user ids it is linked to and whether that makes it shared;
- ``profiles``: one row per connected component (a profile whose best identifier is a user id
  is a person's);
- ``units``: anonymous ids and emails joined by email links (each anonymous id or email starts as
  a unit of its own): the unit recomputed when a link arrives out of order, with its number of
  distinct links, whether it is still claimed by one person only, and whether it is over its cap;
- ``edges``: each distinct pair of linked identifiers with the order key of its first link (later
  links of a pair repeat its outcome), ``claim`` edges written (anonymous id or email, user id);
- ``links``: every link with its edge (the merge log; a link's outcome is read from the profiles);
- ``identifier_traits``, ``identifier_groups``, ``group_traits``: folded by order key;
- ``event_links``: each event and the identifier that linked it;
- ``operator_actions``: the operators' merges and splits with who and why, inputs of the rule
  like events (never emptied by ``clear``: a rebuild applies them again);
- ``warnings``; ``state``: the cursor, the generation ``clear`` bumps, the ``link_email`` choice
  and the limits the profiles were built with, and the last operator action applied.
- on SQLite, ``profile_search``: an FTS5 table (trigram tokenizer) of one document per
  identifier, its value and its trait values, written by the store with every batch; on
  PostgreSQL, trigram (``pg_trgm``) indexes on identifier and trait values do the same.

A profile store of an older layout is emptied by its migration and rebuilt from the event log
(profiles are derived data), keeping the recorded choices.
"""

from __future__ import annotations

from typing import Final

REBUILDING_MIGRATIONS: Final = frozenset({2, 3})
"""The migrations that empty the graph, so the resolver rebuilds the profiles from the first
event: 2 replaced the first layout (clusters and stored link statuses); 3 came with the rules of
0.2 (an alias's ``previousId`` typed from its own message, operator merges and splits)."""

TABLES: Final = (
    "identifiers",
    "profiles",
    "units",
    "edges",
    "links",
    "identifier_traits",
    "identifier_groups",
    "group_traits",
    "event_links",
    "warnings",
    "state",
)
