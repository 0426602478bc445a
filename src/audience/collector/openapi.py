"""The OpenAPI 3.1 description of every route audience serves (``GET /openapi.json``).

``OPERATIONS`` describes each route once: the tracking API with its one-letter forms, the
browser settings and script routes, the admin, profile and destination APIs, the pages and
their JSON, login and logout, and the operational routes. ``openapi_document(routes)`` keeps
the operations the running application serves (the browser script only with
``--browser-bundle``, ``/readyz`` once the application has it), so the description is always
the server's own. A test walks the application's routes and fails on one not described here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from starlette.routing import BaseRoute, Route

from audience import __version__
from audience.collector.tracking_api import BATCH_ROUTES, SINGLE_ROUTES
from audience.tracking import MAX_BATCH_EVENTS, MAX_EVENT_BYTES, MAX_REQUEST_BYTES, MESSAGE_TYPES

JSON: Final = "application/json"
HTML: Final = "text/html"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}, **extra}


def _object(properties: dict[str, Any], *required: str, **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, **extra}
    if required:
        schema["required"] = list(required)
    return schema


ID: Final = {"type": ["string", "number", "null"]}
TEXT_OR_NULL: Final = {"type": ["string", "null"]}
COUNT: Final = {"type": "integer", "minimum": 0}
COUNTS: Final = {"type": "object", "additionalProperties": COUNT}
CURSOR: Final = {
    "type": ["string", "null"],
    "description": "An opaque position in the list; null when there is no such page.",
}
IDENTIFIER: Final = _object(
    {"type": {"enum": ["user_id", "anonymous_id", "email"]}, "value": {"type": "string"}},
    "type",
    "value",
)

SCHEMAS: Final[dict[str, Any]] = {
    "Error": _object(
        {
            "code": {"type": "string"},
            "message": {"type": "string"},
            "meta": _object(
                {"errors": {"type": "array", "items": {"type": "string"}}, "total": COUNT},
                "errors",
            ),
        },
        "code",
        "message",
        "meta",
        description='Every error: "meta.errors" lists each problem as "field: reason".',
    ),
    "QueryError": {
        "allOf": [
            _ref("Error"),
            _object(
                {
                    "errors": {
                        "type": "array",
                        "items": _object(
                            {"field": {"type": "string"}, "reason": {"type": "string"}},
                            "field",
                            "reason",
                        ),
                    }
                },
                "errors",
            ),
        ],
        "description": "A malformed query: each parameter named with its reason.",
    },
    "Message": _object(
        {
            "type": {"enum": list(MESSAGE_TYPES)},
            "userId": ID,
            "anonymousId": ID,
            "messageId": {"type": ["string", "number"]},
            "timestamp": {"type": "string"},
            "originalTimestamp": {"type": "string"},
            "sentAt": {"type": "string"},
            "context": {"type": "object"},
            "integrations": {"type": "object"},
            "event": {"type": "string", "description": "track: the event name (required)"},
            "properties": {"type": "object"},
            "traits": {"type": "object"},
            "name": {"type": "string"},
            "category": {"type": "string"},
            "groupId": {"type": ["string", "number"], "description": "group: required"},
            "previousId": {"type": ["string", "number"], "description": "alias: required"},
            "writeKey": {"type": "string"},
        },
        description=(
            "A Segment-spec message. Each is judged alone: an invalid one, or one over "
            f"{MAX_EVENT_BYTES} bytes, is refused while the others are stored."
        ),
    ),
    "Batch": _object(
        {
            "batch": {"type": "array", "items": _ref("Message")},
            "context": {"type": "object"},
            "integrations": {"type": "object"},
            "sentAt": {"type": "string"},
            "writeKey": {"type": "string"},
        },
        "batch",
        description=(
            f"Up to {MAX_BATCH_EVENTS} messages are stored (later ones are refused alone); "
            "batch-level context and integrations merge under each message's own."
        ),
    ),
    "Accepted": _object(
        {
            "meta": _object(
                {
                    "stored": COUNT,
                    "duplicates": COUNT,
                    "dropped": COUNT,
                    "errors": {"type": "array", "items": {"type": "string"}},
                },
                "stored",
                "duplicates",
                "dropped",
                "errors",
            )
        },
        description="{} when every message was committed; else what was dropped and why.",
    ),
    "StoredMessage": _object(
        {
            "type": {"enum": list(MESSAGE_TYPES)},
            "messageId": {"type": "string"},
            "userId": TEXT_OR_NULL,
            "anonymousId": TEXT_OR_NULL,
            "receivedAt": {"type": "string"},
            "timestamp": {"type": "string"},
        },
        "type",
        "messageId",
        "receivedAt",
        description="A message as stored: enriched with receivedAt, timestamp and ids.",
    ),
    "EventsPage": _object(
        {
            "events": {"type": "array", "items": _ref("StoredMessage")},
            "next": CURSOR,
            "previous": CURSOR,
        },
        "events",
        "next",
        "previous",
    ),
    "BrowserSettings": _object(
        {
            "integrations": {"type": "object"},
            "metrics": {"type": "object"},
            "plan": {"type": "object"},
            "remotePlugins": {"type": "array"},
        },
        "integrations",
    ),
    "Profile": _object(
        {
            "id": {"type": "string"},
            "identifiers": {"type": "array", "items": IDENTIFIER},
            "identifierCount": COUNT,
            "traits": {"type": "object"},
            "groups": {
                "type": "array",
                "items": _object(
                    {"groupId": {"type": "string"}, "traits": {"type": "object"}},
                    "groupId",
                    "traits",
                ),
            },
            "firstSeen": TEXT_OR_NULL,
            "lastSeen": TEXT_OR_NULL,
            "eventCount": COUNT,
        },
        "id",
        "identifiers",
        "identifierCount",
        "traits",
        "groups",
        "eventCount",
    ),
    "ProfileEventsPage": _object(
        {
            "profileId": {"type": "string"},
            "events": {
                "type": "array",
                "items": _object(
                    {
                        "seq": COUNT,
                        "timestamp": {"type": "string"},
                        "linkedBy": IDENTIFIER,
                        "message": _ref("StoredMessage"),
                    },
                    "seq",
                    "timestamp",
                    "linkedBy",
                    "message",
                ),
            },
            "next": CURSOR,
            "previous": CURSOR,
        },
        "profileId",
        "events",
        "next",
        "previous",
    ),
    "OperatorAction": _object(
        {
            "id": {"type": "string"},
            "kind": {"enum": ["merge", "split"]},
            "identifiers": {"type": "array", "items": IDENTIFIER},
            "timestamp": {"type": "string"},
            "actor": {"type": "string"},
            "reason": {"type": "string"},
        },
        "id",
        "kind",
        "identifiers",
        "timestamp",
        "actor",
        "reason",
        description="An operator's merge or split as recorded, with who and why.",
    ),
    "Merges": _object(
        {
            "profileId": {"type": "string"},
            "merges": {
                "type": "array",
                "items": _object(
                    {
                        "status": {"enum": ["joined", "refused", "split"]},
                        "kind": {"type": "string"},
                        "reason": {"type": "string"},
                        "from": IDENTIFIER,
                        "to": IDENTIFIER,
                        "timestamp": {"type": "string"},
                        "messageId": {"type": "string"},
                        "seq": COUNT,
                        "actor": {"type": "string"},
                        "note": {"type": "string"},
                    },
                    "status",
                    "kind",
                    "reason",
                    "from",
                    "to",
                ),
            },
        },
        "profileId",
        "merges",
    ),
    "Resolution": _object(
        {
            "cursor": COUNT,
            "lastSeq": COUNT,
            "lag": COUNT,
            "warnings": {
                "type": "array",
                "items": _object(
                    {
                        "kind": {"type": "string"},
                        "seq": COUNT,
                        "messageId": {"type": "string"},
                        "detail": {"type": "string"},
                    },
                    "kind",
                    "seq",
                    "detail",
                ),
            },
        },
        "cursor",
        "lastSeq",
        "lag",
        "warnings",
    ),
    "RegulationRequest": _object(
        {
            "regulationType": {
                "enum": ["SUPPRESS", "SUPPRESS_WITH_DELETE", "DELETE_ONLY", "UNSUPPRESS"]
            },
            "subjectType": {"enum": ["USER_ID", "ANONYMOUS_ID", "EMAIL", "PROFILE_ID"]},
            "subjectIds": {
                "type": "array",
                "items": {"type": "string", "minLength": 1, "maxLength": 400},
                "minItems": 1,
                "maxItems": 5000,
            },
        },
        "regulationType",
        "subjectType",
        "subjectIds",
        additionalProperties=False,
        description="Who a regulation is about and what it does to them.",
    ),
    "Regulation": _object(
        {
            "id": {"type": "string"},
            "regulationType": {"type": "string"},
            "subjectType": {"type": "string"},
            "subjectCount": COUNT,
            "subjectHashes": {"type": "array", "items": {"type": "string"}},
            "requestedBy": _object(
                {"kind": {"type": "string"}, "source": {"type": "string"}}, "kind", "source"
            ),
            "requestedAt": {"type": "string"},
            "status": {"enum": ["RUNNING", "FINISHED", "FAILED"]},
            "progress": {
                "type": "array",
                "items": _object(
                    {
                        "name": {"type": "string"},
                        "state": {"enum": ["pending", "done", "failed"]},
                        "count": COUNT,
                        "detail": {
                            "type": "object",
                            "additionalProperties": COUNT,
                            "description": "The count of each destination.",
                        },
                    },
                    "name",
                    "state",
                    "count",
                ),
            },
            "finishedAt": TEXT_OR_NULL,
            "error": TEXT_OR_NULL,
        },
        "id",
        "regulationType",
        "subjectType",
        "status",
        "progress",
        description=(
            "A regulation as audited: the subjects only as keyed digests, its progress step by "
            "step."
        ),
    ),
    "Sources": _object(
        {
            "sources": {
                "type": "array",
                "items": _object(
                    {
                        "name": {"type": "string"},
                        "writeKey": {"type": "string"},
                        "createdAt": {"type": "string"},
                    },
                    "name",
                    "writeKey",
                    "createdAt",
                ),
            }
        },
        "sources",
    ),
    "Stats": _object(
        {
            "stored": COUNTS,
            "duplicates": COUNTS,
            "dropped": {"type": "object", "additionalProperties": COUNTS},
            "requests": COUNTS,
        },
        "stored",
        "duplicates",
        "dropped",
        "requests",
        description="Counts by source (drops by source and reason) since the start.",
    ),
    "Destinations": _object(
        {
            "destinations": {
                "type": "array",
                "items": _object(
                    {
                        "name": {"type": "string"},
                        "kind": {"type": "string"},
                        "source": TEXT_OR_NULL,
                        "settings": {"type": "object", "description": "secrets hidden"},
                        "cursor": COUNT,
                        "lag": COUNT,
                        "pending_batches": COUNT,
                        "pending_events": COUNT,
                        "dead_batches": COUNT,
                        "dead_events": COUNT,
                        "delivered_events": COUNT,
                        "last_delivered_at": {"type": ["number", "null"]},
                        "last_error": TEXT_OR_NULL,
                        "last_error_at": {"type": ["number", "null"]},
                    },
                    "name",
                    "kind",
                    "cursor",
                    "lag",
                ),
            }
        },
        "destinations",
    ),
    "LiveEvents": _object(
        {
            "events": {
                "type": "array",
                "items": _object(
                    {
                        "seq": COUNT,
                        "source": {"type": "string"},
                        "type": TEXT_OR_NULL,
                        "title": {"type": "string"},
                        "message": _ref("StoredMessage"),
                    },
                    "seq",
                    "source",
                    "title",
                    "message",
                ),
            },
            "lastSeq": COUNT,
        },
        "events",
        "lastSeq",
        description="The live debugger's poll: events after `after`, and where to go on.",
    ),
    "Health": _object(
        {"status": {"const": "ok"}, "version": {"type": "string"}, "lastSeq": COUNT},
        "status",
        "version",
        "lastSeq",
    ),
    "Readiness": _object(
        {
            "status": {"enum": ["ready", "unavailable"]},
            "problems": {"type": "array", "items": {"type": "string"}},
            "events": _object(
                {
                    "canCommit": {"type": "boolean"},
                    "lastSeq": COUNT,
                    "queuedAppends": COUNT,
                    "oldestAppendWaitSeconds": {"type": "number", "minimum": 0},
                    "failedCommitsInARow": COUNT,
                    "secondsSinceLastCommit": {"type": ["number", "null"]},
                },
                "canCommit",
            ),
            "children": {
                "type": "object",
                "description": "Each supervised child process by name (resolver, dispatcher).",
                "additionalProperties": _object(
                    {
                        "state": {"enum": ["starting", "running", "restarting", "stopped"]},
                        "pid": {"type": ["integer", "null"]},
                        "restarts": COUNT,
                        "since": TEXT_OR_NULL,
                        "downSeconds": {"type": "number", "minimum": 0},
                        "lastExit": {
                            "oneOf": [
                                {"type": "null"},
                                _object(
                                    {
                                        "code": {"type": ["integer", "null"]},
                                        "signal": TEXT_OR_NULL,
                                        "at": {"type": "string"},
                                    },
                                    "at",
                                ),
                            ]
                        },
                        "lag": {
                            "description": "Events behind: a number, or one per destination.",
                            "oneOf": [COUNT, COUNTS, {"type": "null"}],
                        },
                    },
                    "state",
                ),
            },
            "lagSampledAt": TEXT_OR_NULL,
        },
        "status",
        "children",
        description="Whether events can be committed and what runs beside the server is up.",
    ),
}

WRITE_KEY_SECURITY: Final[list[dict[str, list[str]]]] = [
    {"writeKeyBasic": []},
    {"writeKeyBearer": []},
    {},
]
"""The write key as Basic user, as Bearer, or (the empty requirement) in the body or query."""
ADMIN_SECURITY: Final[list[dict[str, list[str]]]] = [{"adminToken": []}, {"adminSession": []}]

ERROR: Final = _ref("Error")
UNAVAILABLE: Final = _json(
    ERROR,
    "The store cannot be used right now; retry.",
    headers={"Retry-After": {"schema": {"type": "string"}}},
)
UNAUTHORIZED: Final = _json(ERROR, "The admin token is missing or wrong.")
THROTTLED: Final = _json(
    ERROR,
    "Too many wrong admin tokens from this address: wait for Retry-After seconds.",
    headers={"Retry-After": {"schema": {"type": "string"}}},
)
CROSS_SITE: Final = _json(ERROR, "A state-changing request from another site's page, refused.")
NOT_FOUND: Final = _json(ERROR, "No such profile.")
BAD_QUERY: Final = _json(_ref("QueryError"), "A malformed query parameter, named.")
LINK: Final = {
    "Link": {
        "description": 'RFC 8288 links to the next and previous pages (rel="next", "prev").',
        "schema": {"type": "string"},
    }
}
TO_LOGIN: Final = {
    "description": "Not logged in: to /login, coming back here afterwards.",
    "headers": {"Location": {"schema": {"type": "string"}}},
}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema, "description": description}


def _path(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": description,
    }


LIMIT: Final = {"type": "integer", "minimum": 1, "maximum": 1000}
STRICT: Final = {
    "name": "X-Strict-Mode",
    "in": "header",
    "schema": {"enum": ["1", "true"]},
    "description": "Refuse the whole request (400) when any message is invalid.",
}
TRACKING_RESPONSES: Final = {
    "200": _json(_ref("Accepted"), "Committed; in permissive mode bad messages are named."),
    "400": _json(ERROR, "Unreadable body, or (X-Strict-Mode) any bad message: nothing stored."),
    "401": _json(ERROR, "Missing or unknown write key."),
    "413": _json(ERROR, f"A body over {MAX_REQUEST_BYTES} bytes after inflating."),
    "503": UNAVAILABLE,
}
ENCODING: Final = {
    "name": "Content-Encoding",
    "in": "header",
    "schema": {"enum": ["gzip", "x-gzip", "deflate", "identity"]},
    "description": "gzip and deflate are inflated with a streaming cap.",
}


def _tracking(summary: str, body: dict[str, Any]) -> dict[str, Any]:
    content = {JSON: {"schema": body}, "text/plain": {"schema": {"type": "string"}}}
    return {
        "summary": summary,
        "tags": ["tracking"],
        "security": WRITE_KEY_SECURITY,
        "parameters": [STRICT, ENCODING],
        "requestBody": {"required": True, "content": content},
        "responses": TRACKING_RESPONSES,
    }


def _admin(
    summary: str,
    ok: dict[str, Any],
    *,
    parameters: Iterable[dict[str, Any]] = (),
    errors: Iterable[str] = (),
    tag: str = "admin",
) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": ok,
        "401": UNAUTHORIZED,
        "429": THROTTLED,
        "503": UNAVAILABLE,
    }
    for status in errors:
        responses[status] = {"400": BAD_QUERY, "404": NOT_FOUND}[status]
    return {
        "summary": summary,
        "tags": [tag],
        "security": ADMIN_SECURITY,
        "parameters": list(parameters),
        "responses": responses,
    }


def _page(
    summary: str, *, parameters: Iterable[dict[str, Any]] = (), extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    ok = {"description": "The page.", "content": {HTML: {"schema": {"type": "string"}}}}
    return {
        "summary": summary,
        "tags": ["pages"],
        "security": ADMIN_SECURITY,
        "parameters": list(parameters),
        "responses": {
            "200": ok,
            "303": TO_LOGIN,
            "429": THROTTLED,
            "503": UNAVAILABLE,
            **(extra or {}),
        },
    }


def _html(description: str) -> dict[str, Any]:
    return {"description": description, "content": {HTML: {"schema": {"type": "string"}}}}


def _script(summary: str, parameter: dict[str, Any]) -> dict[str, Any]:
    """A browser client's script or chunk, served with ``--browser-bundle``."""
    script = {"application/javascript": {"schema": {"type": "string"}}}
    return {
        "summary": summary,
        "tags": ["browser"],
        "parameters": [parameter],
        "responses": {
            "200": {"description": "The script (brotli or gzip when accepted).", "content": script},
            "304": {"description": "The browser's copy (If-None-Match) is current."},
            "404": _json(ERROR, "No such script, or no source has this write key."),
        },
    }


def _settings(summary: str) -> dict[str, Any]:
    return {
        "summary": summary,
        "tags": ["browser"],
        "parameters": [_path("write_key", "The source's write key.")],
        "responses": {
            "200": _json(_ref("BrowserSettings"), "Settings pointing the client here."),
            "404": _json(ERROR, "No source has this write key."),
        },
    }


PAGE_CURSORS: Final = [
    _query("after", {"type": "string"}, "The `next` cursor of a reply: the page after it."),
    _query("before", {"type": "string"}, "The `previous` cursor of a reply: the page before it."),
]


def _operations() -> dict[str, dict[str, dict[str, Any]]]:
    """Every operation audience can serve: path -> method -> operation."""
    paths: dict[str, dict[str, dict[str, Any]]] = {}
    for name, kind in SINGLE_ROUTES.items():
        short = " (the browser's short form)" if len(name) == 1 else ""
        summary = f"Send one {kind} message{short}; its type comes from the path."
        paths[f"/v1/{name}"] = {"post": _tracking(summary, _ref("Message"))}
    for name in BATCH_ROUTES:
        summary = "Send many messages in one request" + (" (short form)" if name == "b" else ".")
        paths[f"/v1/{name}"] = {"post": _tracking(summary, _ref("Batch"))}
    paths["/v1/m"] = {
        "post": {
            "summary": "The browser's telemetry: accepted and discarded.",
            "tags": ["tracking"],
            "requestBody": {"content": {"text/plain": {"schema": {"type": "string"}}}},
            "responses": {"200": _json(_object({}), "Discarded.")},
        }
    }
    paths["/v1/projects/{write_key}/settings"] = {
        "get": _settings(
            "Settings for both browser clients (their Customer.io Data Pipelines and "
            "Segment.io integrations), pointing them here."
        )
    }
    paths["/segment/v1/projects/{write_key}/settings"] = {
        "get": _settings("analytics-next's settings (cdnURL http://<host>/segment).")
    }
    scripts = {
        "/v1/analytics-js/snippet/{write_key}/analytics.min.js": (
            "The Customer.io browser source's script (its bundle's standalone.js).",
            "write_key",
        ),
        "/v1/analytics-js/{name}": ("A chunk of the Customer.io snippet's script.", "name"),
        "/analytics.js/v1/{write_key}/analytics.min.js": (
            "Segment analytics-next's script (its bundle's standalone.js).",
            "write_key",
        ),
        "/analytics-next/bundles/{name}": (
            "A chunk of either client's npm build, or of Segment's script.",
            "name",
        ),
        "/segment/analytics-next/bundles/{name}": (
            "A chunk of Segment's script for cdnURL http://<host>/segment.",
            "name",
        ),
    }
    for path, (summary, parameter) in scripts.items():
        described = "The source's write key." if parameter == "write_key" else "The file name."
        paths[path] = {"get": _script(summary, _path(parameter, described))}
    text_filter = {"type": "string", "maxLength": 10_000}
    paths["/api/events"] = {
        "get": _admin(
            "Stored messages, newest first, a page at a time.",
            _json(_ref("EventsPage"), "A page: next -> before, previous -> after.", headers=LINK),
            parameters=[
                _query("source", text_filter, "Only this source's events."),
                _query("type", {"enum": list(MESSAGE_TYPES)}, "Only this type."),
                _query("userId", text_filter, "Only this user id."),
                _query("anonymousId", text_filter, "Only this anonymous id."),
                _query("event", text_filter, "Only this event name."),
                _query("limit", LIMIT, "Events per page (default 100)."),
                _query("before", {"type": "string"}, "A `next` cursor: the older page."),
                _query("after", {"type": "string"}, "A `previous` cursor: the newer events."),
            ],
            errors=["400"],
        )
    }
    paths["/api/sources"] = {
        "get": _admin("Sources and their write keys.", _json(_ref("Sources"), "The sources."))
    }
    paths["/api/stats"] = {
        "get": _admin("What ingestion did since the start.", _json(_ref("Stats"), "Counts."))
    }
    paths["/api/destinations"] = {
        "get": _admin(
            "Each destination's delivery state.",
            _json(_ref("Destinations"), "The destinations."),
            tag="destinations",
        )
    }
    profile = _json(_object({"profile": _ref("Profile")}, "profile"), "The profile.")
    profile_id = _path("id", "A profile id, or an id it had before a merge.")
    paths["/api/profiles"] = {
        "get": _admin(
            "Profiles whose identifier or trait contains `query`, most recently active first.",
            _json(
                _object({"profiles": {"type": "array", "items": _ref("Profile")}}, "profiles"),
                "The profiles found.",
            ),
            parameters=[
                _query("query", text_filter, "Text to look for (empty: every profile)."),
                _query("limit", LIMIT, "Profiles to list (default 50)."),
            ],
            errors=["400"],
            tag="profiles",
        )
    }
    paths["/api/profiles/lookup"] = {
        "get": _admin(
            "The profile holding one identifier: exactly one of the parameters.",
            profile,
            parameters=[
                _query("userId", text_filter, "A user id."),
                _query("anonymousId", text_filter, "An anonymous id."),
                _query("email", text_filter, "An email (or the email trait)."),
            ],
            errors=["400", "404"],
            tag="profiles",
        )
    }
    paths["/api/profiles/{id}"] = {
        "get": _admin(
            "One profile.", profile, parameters=[profile_id], errors=["404"], tag="profiles"
        )
    }
    paths["/api/profiles/{id}/events"] = {
        "get": _admin(
            "The profile's events in time order, a page at a time.",
            _json(
                _ref("ProfileEventsPage"),
                "A page: next -> after, previous -> before.",
                headers=LINK,
            ),
            parameters=[
                profile_id,
                _query("limit", LIMIT, "Events per page (default 1000)."),
                *PAGE_CURSORS,
            ],
            errors=["400", "404"],
            tag="profiles",
        )
    }
    paths["/api/profiles/{id}/merges"] = {
        "get": _admin(
            "Every join and refused join touching the profile.",
            _json(_ref("Merges"), "The merge log."),
            parameters=[profile_id],
            errors=["404"],
            tag="profiles",
        )
    }
    refused = {
        "400": _json(_ref("QueryError"), "A body field that breaks a rule, named."),
        "404": _json(_ref("QueryError"), "No such profile (the field names which)."),
        "409": _json(_ref("QueryError"), "Refused by the profiles as they are (the field named)."),
    }
    reason = {"type": "string", "minLength": 1, "maxLength": 1000}
    actor = {"type": "string", "minLength": 1, "maxLength": 200, "default": "admin"}
    merge = _admin(
        "Merge two profiles the rules kept apart, recorded with who and why.",
        _json(
            _object({"action": _ref("OperatorAction"), "profile": _ref("Profile")}, "action"),
            "The merge, recorded and applied, and the merged profile.",
        ),
        tag="profiles",
    )
    merge["requestBody"] = {
        "required": True,
        "content": {
            JSON: {
                "schema": _object(
                    {
                        "profiles": {
                            "type": "array",
                            "items": {"type": "string"},
                            "minItems": 2,
                            "maxItems": 2,
                        },
                        "reason": reason,
                        "actor": actor,
                    },
                    "profiles",
                    "reason",
                )
            }
        },
    }
    merge["responses"].update({**refused, "403": CROSS_SITE})
    paths["/api/profiles/merge"] = {"post": merge}
    split = _admin(
        "Split an identifier, and the events it is attributed, off a profile; the profiles are "
        "rebuilt from the event log.",
        _json(_ref("OperatorAction"), "Unused: a split answers 202."),
        parameters=[profile_id],
        tag="profiles",
    )
    del split["responses"]["200"]
    split["requestBody"] = {
        "required": True,
        "content": {
            JSON: {
                "schema": _object(
                    {
                        "identifier": _object(
                            {
                                "type": {"enum": ["user_id", "anonymous_id", "email"]},
                                "id": {"type": "string", "minLength": 1},
                            },
                            "type",
                            "id",
                        ),
                        "reason": reason,
                        "actor": actor,
                    },
                    "identifier",
                    "reason",
                )
            }
        },
    }
    split["responses"].update(
        {
            "202": _json(
                _object(
                    {"action": _ref("OperatorAction"), "rebuilding": {"const": True}},
                    "action",
                    "rebuilding",
                ),
                "The split, recorded; the resolver is rebuilding the profiles.",
            ),
            **refused,
            "403": CROSS_SITE,
        }
    )
    paths["/api/profiles/{id}/split"] = {"post": split}
    paths["/api/resolution"] = {
        "get": _admin(
            "The resolver's progress and identity warnings.",
            _json(_ref("Resolution"), "Cursor, newest event, lag and warnings."),
            tag="profiles",
        )
    }
    paths["/live/events"] = {
        "get": _admin(
            "The live debugger's poll (the /live page's JSON).",
            _json(_ref("LiveEvents"), "Events after `after`."),
            parameters=[
                _query(
                    "after",
                    {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
                    "The lastSeq of the previous poll (default: the latest 50 events).",
                )
            ],
            errors=["400"],
            tag="pages",
        )
    }
    paths["/"] = {
        "get": {
            "summary": "To the profile search.",
            "tags": ["pages"],
            "security": ADMIN_SECURITY,
            "responses": {
                "303": {"description": "To /profiles (or /login first)."},
                "429": THROTTLED,
            },
        }
    }
    paths["/sources"] = {"get": _page("The sources with their snippets.")}
    paths["/live"] = {"get": _page("The live event debugger.")}
    paths["/destinations"] = {"get": _page("The destinations and their delivery state.")}
    paths["/profiles"] = {
        "get": _page(
            "Profile search and identity warnings.",
            parameters=[_query("query", text_filter, "Text to look for.")],
            extra={"400": _html("A malformed query parameter, named.")},
        )
    }
    paths["/profiles/{id}"] = {
        "get": _page(
            "A person's journey, 500 events a page.",
            parameters=[profile_id, *PAGE_CURSORS],
            extra={
                "400": _html("A malformed query parameter, named."),
                "404": _html("No such profile."),
            },
        )
    }
    form_refusals = {
        "429": THROTTLED,
        "503": UNAVAILABLE,
        "400": _html("A form field that breaks a rule, named."),
        "403": CROSS_SITE,
        "404": _html("No such profile."),
        "409": _html("Refused by the profiles as they are, the field named."),
    }
    paths["/profiles/{id}/merge"] = {
        "post": {
            "summary": "The profile page's merge form: merge with profile `other`, saying why.",
            "tags": ["pages"],
            "security": ADMIN_SECURITY,
            "parameters": [profile_id],
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": _object(
                            {"other": {"type": "string"}, "reason": {"type": "string"}},
                            "other",
                            "reason",
                        )
                    }
                },
            },
            "responses": {
                "303": {
                    "description": "To the merged profile (or /login first).",
                    "headers": {"Location": {"schema": {"type": "string"}}},
                },
                **form_refusals,
            },
        }
    }
    paths["/profiles/{id}/split"] = {
        "post": {
            "summary": "The profile page's split form: split `identifier` (type:value) off.",
            "tags": ["pages"],
            "security": ADMIN_SECURITY,
            "parameters": [profile_id],
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": _object(
                            {"identifier": {"type": "string"}, "reason": {"type": "string"}},
                            "identifier",
                            "reason",
                        )
                    }
                },
            },
            "responses": {
                "303": {
                    "description": "To the profile search for it, to see it once rebuilt (or "
                    "/login first).",
                    "headers": {"Location": {"schema": {"type": "string"}}},
                },
                **form_refusals,
            },
        }
    }
    paths["/ui/{name}"] = {
        "get": {
            "summary": "The pages' stylesheet and script.",
            "tags": ["pages"],
            "parameters": [_path("name", "style.css or live.js")],
            "responses": {
                "200": {
                    "description": "The file.",
                    "content": {
                        "text/css": {"schema": {"type": "string"}},
                        "text/javascript": {"schema": {"type": "string"}},
                    },
                },
                "404": {
                    "description": "No such file.",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
            },
        }
    }
    login_form = _object(
        {"token": {"type": "string"}, "next": {"type": "string"}},
        "token",
    )
    paths["/login"] = {
        "get": {
            "summary": "The login form.",
            "tags": ["pages"],
            "parameters": [_query("next", {"type": "string"}, "Where to go after logging in.")],
            "responses": {"200": _html("The form.")},
        },
        "post": {
            "summary": "Log in with the admin token: sets the session cookie.",
            "tags": ["pages"],
            "requestBody": {
                "required": True,
                "content": {"application/x-www-form-urlencoded": {"schema": login_form}},
            },
            "responses": {
                "303": {
                    "description": "Logged in: to `next` (a local path) with the cookie set.",
                    "headers": {"Set-Cookie": {"schema": {"type": "string"}}},
                },
                "401": _html("The form again: the token is not right."),
                "403": CROSS_SITE,
                "429": _html("The form again: too many wrong tokens from this address."),
            },
        },
    }
    paths["/logout"] = {
        "post": {
            "summary": "Log out: the session cookie is removed.",
            "tags": ["pages"],
            "responses": {"303": {"description": "To /login."}, "403": CROSS_SITE},
        }
    }
    paths["/healthz"] = {
        "get": {
            "summary": "Liveness, with the version and the newest log position.",
            "tags": ["operations"],
            "responses": {"200": _json(_ref("Health"), "Alive."), "503": UNAVAILABLE},
        }
    }
    paths["/readyz"] = {
        "get": {
            "summary": "Readiness of the server and what runs beside it.",
            "tags": ["operations"],
            "responses": {
                "200": _json(_ref("Readiness"), "Ready."),
                "503": _json(_ref("Readiness"), "Not ready: what is not."),
            },
        }
    }
    paths["/metrics"] = {
        "get": {
            "summary": "Prometheus metrics (text exposition format 0.0.4).",
            "tags": ["operations"],
            "responses": {
                "200": {
                    "description": "The metrics.",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
        }
    }
    regulation = _object({"regulation": _ref("Regulation")}, "regulation")
    requested = _admin(
        "Request a regulation: suppress, delete or unsuppress people; it runs in the background.",
        _json(regulation, "The regulation."),
        tag="privacy",
    )
    requested["requestBody"] = {
        "required": True,
        "content": {JSON: {"schema": _ref("RegulationRequest")}},
    }
    requested["responses"] = {
        "202": _json(regulation, "Recorded; follow it at /api/regulations/{id}."),
        "400": _json(ERROR, "A field of the request is not valid, named with the reason."),
        "413": _json(ERROR, "The body is over 2 MB."),
        **{k: v for k, v in requested["responses"].items() if k != "200"},
        "403": CROSS_SITE,
    }
    paths["/api/regulations"] = {
        "post": requested,
        "get": _admin(
            "Regulations, newest first.",
            _json(
                _object(
                    {
                        "regulations": {"type": "array", "items": _ref("Regulation")},
                        "next": TEXT_OR_NULL,
                    },
                    "regulations",
                    "next",
                ),
                "The regulations.",
            ),
            parameters=[
                _query("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "At most."),
                _query("before", {"type": "string"}, "The `next` of the previous page."),
            ],
            errors=["400"],
            tag="privacy",
        ),
    }
    one = _admin(
        "One regulation with its progress per store and destination.",
        _json(regulation, "The regulation."),
        parameters=[_path("regulation_id", "The regulation's id.")],
        tag="privacy",
    )
    one["responses"]["404"] = _json(ERROR, "No such regulation.")
    paths["/api/regulations/{regulation_id}"] = {"get": one}
    paths["/openapi.json"] = {
        "get": {
            "summary": "This description.",
            "tags": ["operations"],
            "responses": {"200": _json({"type": "object"}, "The OpenAPI 3.1 document.")},
        }
    }
    return paths


OPERATIONS: Final = _operations()

TRACKING_OPERATIONS: Final = frozenset(
    (f"/v1/{name}", "post") for name in (*SINGLE_ROUTES, *BATCH_ROUTES, "m")
)
"""What the tracking middleware answers ahead of the router: always served."""


def served_operations(routes: Iterable[BaseRoute]) -> set[tuple[str, str]]:
    """``(path, method)`` of everything an application serves (HEAD goes with its GET)."""
    served = set(TRACKING_OPERATIONS)
    for route in routes:
        if isinstance(route, Route):
            for method in route.methods or ():
                if method != "HEAD":
                    served.add((route.path, method.lower()))
    return served


def openapi_document(routes: Iterable[BaseRoute] | None = None) -> dict[str, Any]:
    """The description of what ``routes`` serve (every operation when ``None``)."""
    served = None if routes is None else served_operations(routes)
    paths: dict[str, dict[str, Any]] = {}
    for path, methods in OPERATIONS.items():
        for method, operation in methods.items():
            if served is None or (path, method) in served:
                paths.setdefault(path, {})[method] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "audience",
            "version": __version__,
            "description": (
                "A self-hostable customer data pipeline: the Customer.io/Segment tracking API, "
                "the browser settings, and the admin, profile and destination APIs."
            ),
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "writeKeyBasic": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "The write key as the user name, the password empty.",
                },
                "writeKeyBearer": {"type": "http", "scheme": "bearer", "description": "Write key"},
                "adminToken": {"type": "http", "scheme": "bearer", "description": "Admin token"},
                "adminSession": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "audience_admin",
                    "description": "The session cookie POST /login sets.",
                },
            },
            "schemas": SCHEMAS,
        },
    }
