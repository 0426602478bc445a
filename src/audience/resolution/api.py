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
- ``POST /api/profiles/merge`` ``{"profiles": [a, b], "reason": "...", "actor": "..."}`` -> the
  operator's merge, recorded and applied: ``{"action": {...}, "profile": {...}}``.
- ``POST /api/profiles/{id}/split`` ``{"identifier": {"type", "id"}, "reason", "actor"}`` -> the
  split recorded (202); the resolver rebuilds the profiles from the event log.

A body that breaks a rule gets 400 naming the field; an unknown profile 404; a merge of a profile
with itself, or a split of what the profile does not hold (or holds alone), 409.

A malformed parameter gets 400 naming it (see :mod:`audience.http.query_params`).
"""

from __future__ import annotations

from typing import Any, Final

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from audience.clock import Clock, IdFactory, SystemClock, UuidFactory
from audience.errors import ConflictError, NotFoundError, QueryError, ValidationError
from audience.eventlog import EventFeed
from audience.http.admin_guard import AdminGuard
from audience.http.body import read_small_body
from audience.http.query_params import MAX_TEXT_CHARS, QueryReader
from audience.http.replies import JSONReply, error_reply, invalid_query_reply
from audience.identity.graph import OperatorAction
from audience.identity.identifiers import (
    IDENTIFIER_TYPES,
    Identifier,
    IdentifierType,
    clean_email,
    clean_id,
)
from audience.identity.profiles import (
    OPERATOR,
    IdentityWarning,
    LinkedEvent,
    MergeRecord,
    Profile,
)
from audience.identity.timeline import linked_events, linked_position, profile_event_cursor
from audience.paging import (
    Page,
    backward_page,
    forward_page,
    link_header,
)
from audience.resolution.profile_store import ProfileStore
from audience.tracking import format_timestamp

MAX_LIMIT: Final = 1000
MAX_ACTION_BODY: Final = 16 * 1024
"""Bytes a merge or split request body may hold."""
MAX_REASON: Final = 1000
"""Characters of an operator action's reason (and 200 of its actor)."""
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
        **({"actor": record.actor, "note": record.note} if record.kind in OPERATOR else {}),
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


def action_json(action: OperatorAction) -> dict[str, Any]:
    """An operator action with wire names."""
    return {
        "id": action.action_id,
        "kind": action.kind,
        "identifiers": [identifier_json(i) for i in (action.a, action.b) if i is not None],
        "timestamp": action.timestamp,
        "actor": action.actor,
        "reason": action.reason,
    }


def refusal_reply(error: ValidationError) -> JSONReply:
    """400, 404 or 409 naming the field of a refused operator action."""
    status = (
        404
        if isinstance(error, NotFoundError)
        else 409
        if isinstance(error, ConflictError)
        else 400
    )
    code = {400: "invalid_body", 404: "not_found", 409: "conflict"}[status]
    return JSONReply(
        {
            "code": code,
            "message": str(error),
            "meta": {"errors": [str(error)]},
            "errors": [{"field": error.field, "reason": error.reason}],
        },
        status,
    )


async def _action_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, at most ``MAX_ACTION_BODY`` bytes."""
    body = await read_small_body(request.stream(), limit=MAX_ACTION_BODY, field="body")
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValidationError("body", "is not JSON") from exc
    if not isinstance(parsed, dict):
        raise ValidationError("body", "is not a JSON object")
    return parsed


def _text(body: dict[str, Any], name: str, limit: int, *, default: str | None = None) -> str:
    value = body.get(name, default)
    if value is None:
        raise ValidationError(name, "is required")
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise ValidationError(name, "must be a non-empty string")
    if len(value) > limit:
        raise ValidationError(name, f"must be at most {limit:,} characters")
    return value.strip()


def merge_request(body: dict[str, Any]) -> tuple[tuple[str, str], str, str]:
    """``(profile ids, reason, actor)`` of a merge body."""
    profiles = body.get("profiles")
    if not isinstance(profiles, list) or len(profiles) != 2:
        raise ValidationError("profiles", "must be a list of two profile ids")
    for index, profile in enumerate(profiles):
        if not isinstance(profile, str) or not profile or len(profile) > MAX_TEXT_CHARS:
            raise ValidationError(f"profiles[{index}]", "must be a profile id")
    reason = _text(body, "reason", MAX_REASON)
    actor = _text(body, "actor", 200, default="admin")
    return (profiles[0], profiles[1]), reason, actor


def split_request(body: dict[str, Any]) -> tuple[Identifier, str, str]:
    """``(identifier, reason, actor)`` of a split body."""
    raw = body.get("identifier")
    if not isinstance(raw, dict):
        raise ValidationError("identifier", 'must be an object {"type": ..., "id": ...}')
    type_ = raw.get("type")
    if type_ not in IDENTIFIER_TYPES:
        raise ValidationError("identifier.type", f"must be one of {', '.join(IDENTIFIER_TYPES)}")
    value = clean_email(raw.get("id")) if type_ == "email" else clean_id(raw.get("id"))
    if value is None:
        raise ValidationError("identifier.id", f"is not a usable {type_}")
    reason = _text(body, "reason", MAX_REASON)
    actor = _text(body, "actor", 200, default="admin")
    return Identifier(type_, value), reason, actor


def _not_found(what: str) -> Response:
    return error_reply(404, "not_found", f"no profile {what}")


class ProfileApi:
    """JSON over the profile store (and the event log for event bodies): reads, and the
    operators' merges and splits (``clock`` and ``ids`` date and name each action)."""

    def __init__(
        self,
        profiles: ProfileStore,
        feed: EventFeed,
        guard: AdminGuard,
        *,
        clock: Clock | None = None,
        ids: IdFactory | None = None,
    ) -> None:
        self._profiles = profiles
        self._feed = feed
        self._guard = guard
        self._clock = clock or SystemClock()
        self._ids = ids or UuidFactory()

    def routes(self) -> list[Route]:
        """The profile routes, all needing the admin token."""
        protect = self._guard.protect
        return [
            Route("/api/profiles", protect(self._search), methods=["GET"]),
            Route("/api/profiles/lookup", protect(self._lookup), methods=["GET"]),
            Route("/api/profiles/merge", protect(self._merge), methods=["POST"]),
            Route("/api/profiles/{id}/split", protect(self._split), methods=["POST"]),
            Route("/api/profiles/{id}", protect(self._get), methods=["GET"]),
            Route("/api/profiles/{id}/events", protect(self._events), methods=["GET"]),
            Route("/api/profiles/{id}/merges", protect(self._merges), methods=["GET"]),
            Route("/api/resolution", protect(self._status), methods=["GET"]),
        ]

    async def _merge(self, request: Request) -> Response:
        try:
            profiles, reason, actor = merge_request(await _action_body(request))
            action = await run_in_threadpool(
                self._profiles.merge,
                profiles,
                action_id=f"op-{self._ids.new()}",
                at=format_timestamp(self._clock.now()),
                actor=actor,
                reason=reason,
            )
        except ValidationError as exc:
            return refusal_reply(exc)
        merged = await run_in_threadpool(self._profiles.lookup, action.a)
        return JSONReply(
            {"action": action_json(action), "profile": merged and profile_json(merged)}
        )

    async def _split(self, request: Request) -> Response:
        profile_id = request.path_params["id"]
        try:
            if "\x00" in profile_id or len(profile_id) > MAX_TEXT_CHARS:
                raise NotFoundError("id", f"no profile {profile_id!r}")
            identifier, reason, actor = split_request(await _action_body(request))
            action = await run_in_threadpool(
                self._profiles.split,
                profile_id,
                identifier,
                action_id=f"op-{self._ids.new()}",
                at=format_timestamp(self._clock.now()),
                actor=actor,
                reason=reason,
            )
        except ValidationError as exc:
            return refusal_reply(exc)
        return JSONReply({"action": action_json(action), "rebuilding": True}, 202)

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
