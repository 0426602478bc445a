"""The admin profile API: profiles, their events and their merge log, behind the admin token.

- ``GET /api/profiles/lookup?userId=|anonymousId=|email=`` -> ``{"profile": {...}}`` or 404.
- ``GET /api/profiles/{id}`` -> ``{"profile": {...}}``; an id from before a merge still answers.
- ``GET /api/profiles/{id}/events?limit=&after=&before=`` -> the person's events in time order,
  each with ``linkedBy``, the identifier that linked it to the profile, a page at a time:
  ``next`` is the cursor of the following page (pass it as ``after``), ``null`` at the end;
  ``previous`` that of the page before (pass it as ``before``). The ``Link`` header has both.
- ``GET /api/profiles/{id}/merges`` -> every join and refused join touching the profile.
- ``GET /api/profiles?query=&limit=`` -> profiles whose identifier or trait value contains
  ``query``, most recently active first.
- ``GET /api/resolution`` -> the resolver's cursor, the newest stored event, and identity warnings.

A malformed parameter gets 400 naming it (see :mod:`audience.http.query_params`).
"""

from __future__ import annotations

from typing import Any, Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from audience.errors import QueryError
from audience.eventlog import EventFeed
from audience.http.admin_guard import AdminGuard
from audience.http.query_params import MAX_TEXT_CHARS, QueryReader
from audience.http.replies import JSONReply, error_reply, invalid_query_reply
from audience.identity.identifiers import Identifier, IdentifierType, clean_email
from audience.identity.profiles import IdentityWarning, LinkedEvent, MergeRecord, Profile
from audience.identity.timeline import linked_events, linked_position, profile_event_cursor
from audience.paging import (
    Page,
    backward_page,
    forward_page,
    link_header,
)
from audience.resolution.profile_store import ProfileStore

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


def linked_event_json(event: LinkedEvent, message: dict[str, Any]) -> dict[str, Any]:
    """One event of a profile's list."""
    return {
        "seq": event.seq,
        "timestamp": event.timestamp,
        "linkedBy": identifier_json(event.identifier),
        "message": message,
    }


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
        query = QueryReader(request.query_params.multi_items())
        query.exclusive(*LOOKUP_PARAMETERS)
        given = [(name, query.text(name)) for name in LOOKUP_PARAMETERS if query.present(name)]
        if not given:
            query.problem("userId", "give exactly one of userId, anonymousId or email")
        try:
            query.finish()
        except QueryError as exc:
            return invalid_query_reply(exc)
        name, value = given[0]
        value = value or ""
        if name == "email":
            value = clean_email(value) or value.strip().lower()
        identifier = Identifier(LOOKUP_PARAMETERS[name], value)
        profile = await run_in_threadpool(self._profiles.lookup, identifier)
        if profile is None:
            return _not_found(f"with {name} {value!r}")
        return JSONReply({"profile": profile_json(profile)})

    async def _get(self, request: Request) -> Response:
        profile = await self._profile_at(request)
        if profile is None:
            return _not_found(repr(request.path_params["id"]))
        return JSONReply({"profile": profile_json(profile)})

    async def _events(self, request: Request) -> Response:
        query = QueryReader(request.query_params.multi_items())
        limit = query.integer("limit", default=MAX_LIMIT, minimum=1, maximum=MAX_LIMIT)
        query.exclusive("after", "before")
        after = query.cursor("after", profile_event_cursor)
        before = query.cursor("before", profile_event_cursor)
        if query.present("offset"):
            query.problem("offset", "is not supported: page with after= (the reply's next)")
        try:
            query.finish()
        except QueryError as exc:
            return invalid_query_reply(exc)
        profile = await self._profile_at(request)
        if profile is None:
            return _not_found(repr(request.path_params["id"]))
        page = await run_in_threadpool(self._events_page, profile.id, limit, after, before)
        pairs = await run_in_threadpool(linked_events, self._feed, page.items)
        link = link_header(request.url.path, request.query_params, page, forward="after")
        return JSONReply(
            {
                "profileId": profile.id,
                "events": [linked_event_json(event, message) for event, message in pairs],
                "next": page.next,
                "previous": page.previous,
            },
            headers={"Link": link} if link else None,
        )

    def _events_page(
        self,
        profile_id: str,
        limit: int,
        after: tuple[str, int] | None,
        before: tuple[str, int] | None,
    ) -> Page[LinkedEvent]:
        if before is not None:
            rows = self._profiles.events_before(profile_id, before, limit)
            return backward_page(rows, limit, linked_position)
        rows = self._profiles.events(profile_id, limit + 1, after)
        return forward_page(rows, limit, linked_position)

    async def _merges(self, request: Request) -> Response:
        profile = await self._profile_at(request)
        if profile is None:
            return _not_found(repr(request.path_params["id"]))
        records = await run_in_threadpool(self._profiles.merges, profile.id)
        return JSONReply({"profileId": profile.id, "merges": [merge_json(r) for r in records]})

    async def _search(self, request: Request) -> Response:
        query = QueryReader(request.query_params.multi_items())
        limit = query.integer("limit", default=50, minimum=1, maximum=MAX_LIMIT)
        text = query.text("query") or ""
        try:
            query.finish()
        except QueryError as exc:
            return invalid_query_reply(exc)
        found = await run_in_threadpool(self._profiles.search, text, limit)
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

    async def _profile_at(self, request: Request) -> Profile | None:
        """The profile the path names; an id no store could hold (a NUL) names none."""
        profile_id = request.path_params["id"]
        if "\x00" in profile_id or len(profile_id) > MAX_TEXT_CHARS:
            return None
        return await run_in_threadpool(self._profiles.get, profile_id)
