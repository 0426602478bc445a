"""Everything a user keeps in the three stores, read through their public methods as plain JSON.

Two readings compare equal exactly when every event, source, admin session, profile, merge and
delivery is the same, so a data folder can be read before and after an upgrade and compared.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from audience.destinations.delivery_store import DeliveryStore
from audience.resolution.profile_store import ProfileStore
from audience.storage.backend import EventStore

ADMIN_META_KEYS = ("admin_token",)
"""The settings kept in the event store's ``meta`` table that a user relies on."""


def _plain(value: Any) -> Any:
    """``value`` as JSON values only (dataclasses as objects, tuples as lists)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def identifiers_of(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The ``(type, value)`` of every user id, anonymous id and email the events carry."""
    found: set[tuple[str, str]] = set()
    for event in events:
        message = event["message"]
        for field, kind in (
            ("userId", "user_id"),
            ("anonymousId", "anonymous_id"),
            ("previousId", "user_id"),
        ):
            if message.get(field):
                found.add((kind, str(message[field])))
        email = (message.get("traits") or {}).get("email")
        if email:
            found.add(("email", str(email)))
    return sorted(found)


def store_contents(
    events: EventStore,
    profiles: ProfileStore,
    deliveries: DeliveryStore,
    session_hashes: list[str],
) -> dict[str, Any]:
    """What the stores hold, as JSON values: see the module docstring."""
    from audience.identity.identifiers import Identifier

    stored = [_plain(event) for event in events.read_after(0, 100_000)]
    profile_ids: set[str] = set()
    lookups: dict[str, Any] = {}
    for kind, value in identifiers_of(stored):
        profile = profiles.lookup(Identifier(kind, value))  # type: ignore[arg-type]
        lookups[f"{kind}:{value}"] = None if profile is None else profile.id
        if profile is not None:
            profile_ids.add(profile.id)
    destinations: dict[str, Any] = {}
    for config in deliveries.configs():
        destinations[config.name] = {
            "config": config.to_json(),
            "cursor": deliveries.cursor(config.name),
            "next_batch": _plain(deliveries.next_batch(config.name)),
            "dead_letters": [_plain(batch) for batch in deliveries.dead_letters(config.name)],
            "stats": _plain(deliveries.stats(config.name)),
        }
    return {
        "events": stored,
        "last_seq": events.last_seq(),
        "sources": [_plain(source) for source in events.list_sources()],
        "meta": {key: events.get_meta(key) for key in ADMIN_META_KEYS},
        "admin_sessions": {
            id_hash: _plain(events.admin_session(id_hash)) for id_hash in session_hashes
        },
        "profile_cursor": profiles.cursor(),
        "lookups": lookups,
        "profiles": {
            profile_id: {
                "profile": _plain(profiles.get(profile_id)),
                "events": [_plain(event) for event in profiles.events(profile_id)],
                "merges": [_plain(merge) for merge in profiles.merges(profile_id)],
            }
            for profile_id in sorted(profile_ids)
        },
        "warnings": [_plain(warning) for warning in profiles.warnings()],
        "destinations": destinations,
    }
