"""The admin profile API: profiles, their events and their merge log, behind the admin token.

- ``GET /api/profiles/lookup?userId=|anonymousId=|email=`` -> ``{"profile": {...}}`` or 404.
- ``GET /api/profiles/{id}`` -> ``{"profile": {...}}``; an id from before a merge still answers.
- ``GET /api/profiles/{id}/events?limit=&offset=`` -> the person's events in time order, each with
  ``linkedBy``, the identifier that linked it to the profile.
- ``GET /api/profiles/{id}/merges`` -> every join and refused join touching the profile.
- ``GET /api/profiles?query=&limit=`` -> profiles whose identifier or trait value contains
  ``query``, most recently active first.
- ``GET /api/resolution`` -> the resolver's cursor, the newest stored event, and identity warnings.
"""

from __future__ import annotations

from typing import Any, Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from audience.collector.auth import AdminGuard
from audience.collector.replies import JSONReply, error_reply
from audience.eventlog import EventFeed
from audience.resolution.identifiers import Identifier, IdentifierType, clean_email
from audience.resolution.profiles import IdentityWarning, LinkedEvent, MergeRecord, Profile
from audience.resolution.store import ProfileStore

MAX_LIMIT: Final = 1000
LOOKUP_PARAMETERS: Final[dict[str, IdentifierType]] = {
    "userId": "user_id",
    "anonymousId": "anonymous_id",
    "email": "email",
}


def identifier_json(identifier: Identifier) -> dict[str, str]:
    """``{"type": "user_id", "value": "..."}``."""
    return {"type": identifier.type, "value": identifier.value}


def profile_json(profile: Profile) -> dict[str, Any]:
    """A profile with wire names."""
    return {
        "id": profile.id,
        "identifiers": [identifier_json(i) for i in profile.identifiers],
        "identifierCount": profile.identifier_count,
        "traits": profile.traits,
        "groups": [{"groupId": g.group_id, "traits": g.traits} for g in profile.groups],
        "firstSeen": profile.first_seen,
        "lastSeen": profile.last_seen,
        "eventCount": profile.event_count,
    }


def merge_json(record: MergeRecord) -> dict[str, Any]:
    """One entry of the merge log with its reason."""
    return {
        "status": record.status,
        "kind": record.kind,
        "reason": record.reason,
        "from": identifier_json(record.a),
        "to": identifier_json(record.b),
        "timestamp": record.timestamp,
        "messageId": record.message_id,
        "seq": record.seq,
    }


def warning_json(warning: IdentityWarning) -> dict[str, Any]:
    """One identity warning."""
    return {
        "kind": warning.kind,
        "seq": warning.seq,
        "messageId": warning.message_id,
        "detail": warning.detail,
    }


def linked_events(
    feed: EventFeed, linked: list[LinkedEvent]
) -> list[tuple[LinkedEvent, dict[str, Any]]]:
    """The stored messages of ``linked``, in the profile's time order."""
    messages = {event.seq: event.message for event in feed.get_many([e.seq for e in linked])}
    return [(event, messages[event.seq]) for event in linked if event.seq in messages]


def _limit(request: Request, default: int) -> int | None:
    raw = request.query_params.get("limit", str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        return None
    return int(raw)


def _bad_limit() -> Response:
    return error_reply(
        400, "invalid_request", f"limit: must be a whole number from 1 to {MAX_LIMIT}"
    )


def _not_found(what: str) -> Response:
    return error_reply(404, "not_found", f"no profile {what}")


class ProfileApi:
    """Read-only JSON over the profile store (and the event log for event bodies)."""

    def __init__(self, profiles: ProfileStore, feed: EventFeed, guard: AdminGuard) -> None:
        self._profiles = profiles
        self._feed = feed
        self._guard = guard

    def routes(self) -> list[Route]:
        """The profile routes, all needing the admin token."""
        protect = self._guard.protect
        return [
            Route("/api/profiles", protect(self._search), methods=["GET"]),
            Route("/api/profiles/lookup", protect(self._lookup), methods=["GET"]),
            Route("/api/profiles/{id}", protect(self._get), methods=["GET"]),
            Route("/api/profiles/{id}/events", protect(self._events), methods=["GET"]),
            Route("/api/profiles/{id}/merges", protect(self._merges), methods=["GET"]),
            Route("/api/resolution", protect(self._status), methods=["GET"]),
        ]

    async def _lookup(self, request: Request) -> Response:
        query = request.query_params
        given = [(name, query[name]) for name in LOOKUP_PARAMETERS if name in query]
        if len(given) != 1:
            return error_reply(
                400, "invalid_request", "give exactly one of userId, anonymousId or email"
            )
        name, value = given[0]
        if name == "email":
            value = clean_email(value) or value.strip().lower()
        identifier = Identifier(LOOKUP_PARAMETERS[name], value)
        profile = await run_in_threadpool(self._profiles.lookup, identifier)
        if profile is None:
            return _not_found(f"with {name} {value!r}")
        return JSONReply({"profile": profile_json(profile)})

    async def _get(self, request: Request) -> Response:
        profile = await run_in_threadpool(self._profiles.get, request.path_params["id"])
        if profile is None:
            return _not_found(repr(request.path_params["id"]))
        return JSONReply({"profile": profile_json(profile)})

    async def _events(self, request: Request) -> Response:
        limit = _limit(request, MAX_LIMIT)
        raw_offset = request.query_params.get("offset", "0")
        if limit is None:
            return _bad_limit()
        if not raw_offset.isdigit():
            return error_reply(400, "invalid_request", "offset: must be a whole number")
        profile_id = request.path_params["id"]
        profile = await run_in_threadpool(self._profiles.get, profile_id)
        if profile is None:
            return _not_found(repr(profile_id))
        linked = await run_in_threadpool(self._profiles.events, profile.id, limit, int(raw_offset))
        pairs = await run_in_threadpool(linked_events, self._feed, linked)
        return JSONReply(
            {
                "profileId": profile.id,
                "events": [
                    {
                        "seq": event.seq,
                        "timestamp": event.timestamp,
                        "linkedBy": identifier_json(event.identifier),
                        "message": message,
                    }
                    for event, message in pairs
                ],
            }
        )

    async def _merges(self, request: Request) -> Response:
        profile = await run_in_threadpool(self._profiles.get, request.path_params["id"])
        if profile is None:
            return _not_found(repr(request.path_params["id"]))
        records = await run_in_threadpool(self._profiles.merges, profile.id)
        return JSONReply({"profileId": profile.id, "merges": [merge_json(r) for r in records]})

    async def _search(self, request: Request) -> Response:
        limit = _limit(request, 50)
        if limit is None:
            return _bad_limit()
        query = request.query_params.get("query", "")
        found = await run_in_threadpool(self._profiles.search, query, limit)
        return JSONReply({"profiles": [profile_json(p) for p in found]})

    async def _status(self, request: Request) -> Response:
        cursor = await run_in_threadpool(self._profiles.cursor)
        last_seq = await run_in_threadpool(self._feed.last_seq)
        warnings = await run_in_threadpool(self._profiles.warnings, 100)
        return JSONReply(
            {
                "cursor": cursor,
                "lastSeq": last_seq,
                "lag": max(0, last_seq - cursor),
                "warnings": [warning_json(w) for w in warnings],
            }
        )
