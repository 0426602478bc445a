"""The OpenAPI 3.1 description of the tracking API and the admin read API (``/openapi.json``)."""

from __future__ import annotations

from typing import Any, Final

from audience import __version__
from audience.collector.tracking_api import SINGLE_ROUTES

_ERROR: Final = {
    "type": "object",
    "properties": {
        "code": {"type": "string"},
        "message": {"type": "string"},
        "meta": {
            "type": "object",
            "properties": {"errors": {"type": "array", "items": {"type": "string"}}},
        },
    },
}

_MESSAGE: Final = {
    "type": "object",
    "description": "A Segment-spec message: identify, track, page, screen, group or alias.",
    "properties": {
        "type": {"enum": ["identify", "track", "page", "screen", "group", "alias"]},
        "userId": {"type": ["string", "number", "null"]},
        "anonymousId": {"type": ["string", "number", "null"]},
        "messageId": {"type": ["string", "number"], "maxLength": 100},
        "timestamp": {"type": "string", "format": "date-time"},
        "sentAt": {"type": "string", "format": "date-time"},
        "context": {"type": "object"},
        "integrations": {"type": "object"},
        "event": {"type": "string", "description": "track: the event name (required)"},
        "properties": {"type": "object"},
        "traits": {"type": "object"},
        "name": {"type": "string"},
        "category": {"type": "string"},
        "groupId": {"type": ["string", "number"], "description": "group: required"},
        "previousId": {"type": ["string", "number"], "description": "alias: required"},
    },
}

_TRACKING_RESPONSES: Final = {
    "200": {
        "description": "Committed. In permissive mode bad messages are dropped and listed "
        "under meta.errors.",
        "content": {"application/json": {"schema": {"type": "object"}}},
    },
    "400": {"description": "Unreadable body, or (X-Strict-Mode: 1) any bad message."},
    "401": {"description": "Missing or unknown write key."},
    "413": {"description": "Over 32 KB per event, 500 KB per request or 2,500 events."},
    "503": {"description": "The store could not commit; retry (Retry-After)."},
}

_STRICT: Final = {
    "name": "X-Strict-Mode",
    "in": "header",
    "schema": {"enum": ["1"]},
    "description": "Refuse the whole request (400) when any message is invalid.",
}


def _single(kind: str) -> dict[str, Any]:
    return {
        "post": {
            "summary": f"Send one {kind} message (the body's type is taken from the path).",
            "tags": ["tracking"],
            "security": [{"basic": []}, {"bearer": []}, {}],
            "parameters": [_STRICT],
            "requestBody": {"content": {"application/json": {"schema": _MESSAGE}}},
            "responses": {
                **_TRACKING_RESPONSES,
                "default": {"content": {"application/json": {"schema": _ERROR}}},
            },
        }
    }


def openapi_document() -> dict[str, Any]:
    """The whole description, built fresh on each call."""
    paths: dict[str, Any] = {f"/v1/{path}": _single(kind) for path, kind in SINGLE_ROUTES.items()}
    batch = {
        "post": {
            "summary": "Send many messages; batch-level context and integrations merge into each.",
            "tags": ["tracking"],
            "security": [{"basic": []}, {"bearer": []}, {}],
            "parameters": [_STRICT],
            "requestBody": {
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["batch"],
                            "properties": {
                                "batch": {"type": "array", "items": _MESSAGE, "maxItems": 2500},
                                "context": {"type": "object"},
                                "integrations": {"type": "object"},
                                "sentAt": {"type": "string", "format": "date-time"},
                                "writeKey": {"type": "string"},
                            },
                        }
                    }
                }
            },
            "responses": _TRACKING_RESPONSES,
        }
    }
    paths["/v1/batch"] = batch
    paths["/v1/b"] = batch
    paths["/v1/m"] = {
        "post": {
            "summary": "The browser's telemetry: accepted and discarded.",
            "tags": ["tracking"],
            "responses": {"200": {"description": "Discarded."}},
        }
    }
    paths["/v1/projects/{writeKey}/settings"] = {
        "get": {
            "summary": "Settings for the browser source, pointing it at this server.",
            "tags": ["tracking"],
            "parameters": [
                {"name": "writeKey", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {"200": {"description": "Settings"}, "404": {"description": "Unknown"}},
        }
    }
    paths["/segment/v1/projects/{writeKey}/settings"] = {
        "get": {
            "summary": (
                "Settings for Segment's analytics-next (cdnURL http://<host>/segment): "
                "its Segment.io integration, pointing it at this server."
            ),
            "tags": ["tracking"],
            "parameters": [
                {"name": "writeKey", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {"200": {"description": "Settings"}, "404": {"description": "Unknown"}},
        }
    }
    admin_filters: list[dict[str, Any]] = [
        {"name": name, "in": "query", "schema": {"type": "string"}}
        for name in ("source", "type", "userId", "anonymousId", "event")
    ]
    admin_filters.append(
        {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 1000}}
    )
    paths["/api/events"] = {
        "get": {
            "summary": "Stored messages, newest first.",
            "tags": ["admin"],
            "security": [{"admin": []}],
            "parameters": admin_filters,
            "responses": {
                "200": {
                    "description": '{"events": [...]}',
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"events": {"type": "array", "items": _MESSAGE}},
                            }
                        }
                    },
                },
                "401": {"description": "Missing or wrong admin token."},
            },
        }
    }
    for path, summary in (
        ("/api/sources", "Sources and their write keys."),
        ("/api/stats", "Events stored, duplicates and drops by reason since the start."),
    ):
        paths[path] = {
            "get": {
                "summary": summary,
                "tags": ["admin"],
                "security": [{"admin": []}],
                "responses": {"200": {"description": "OK"}, "401": {"description": "No token"}},
            }
        }
    paths["/healthz"] = {"get": {"summary": "Liveness.", "responses": {"200": {}}}}
    paths["/readyz"] = {
        "get": {
            "summary": "Readiness: the writer's health, each child process's state and lag.",
            "responses": {"200": {"description": "Ready"}, "503": {"description": "Not ready"}},
        }
    }
    paths["/metrics"] = {
        "get": {"summary": "Prometheus metrics.", "responses": {"200": {"description": "Text"}}}
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "audience", "version": __version__},
        "paths": paths,
        "components": {
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic", "description": "write key as user"},
                "bearer": {"type": "http", "scheme": "bearer", "description": "write key"},
                "admin": {"type": "http", "scheme": "bearer", "description": "admin token"},
            },
            "schemas": {"Message": _MESSAGE, "Error": _ERROR},
        },
    }
