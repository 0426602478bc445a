"""The collector's JSON replies: success bodies and the error shape every client understands.

Errors look like ``{"code": ..., "message": ..., "meta": {"errors": ["field: reason"]}}``:
the Segment SDKs read ``code``/``message`` and Customer.io documents ``meta.errors``. A
malformed query of a read route also lists each problem as ``{"field", "reason"}`` under
``errors``, for programs that act on the field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

import orjson
from starlette.responses import Response

from audience.errors import QueryError

MAX_LISTED_ERRORS: Final = 100
"""A reply names at most this many problems; the count says how many there were."""


class JSONReply(Response):
    """A JSON response serialized with orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_reply(
    status: int,
    code: str,
    message: str,
    errors: Iterable[str] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONReply:
    """An error body naming each problem."""
    listed = list(errors)
    meta: dict[str, Any] = {"errors": listed[:MAX_LISTED_ERRORS] or [message]}
    if len(listed) > MAX_LISTED_ERRORS:
        meta["total"] = len(listed)
    return JSONReply({"code": code, "message": message, "meta": meta}, status, headers)


def invalid_query_reply(error: QueryError) -> JSONReply:
    """The 400 naming every malformed query parameter, in both forms."""
    problems = error.problems
    return JSONReply(
        {
            "code": "invalid_query",
            "message": str(error),
            "meta": {"errors": [str(problem) for problem in problems]},
            "errors": [{"field": problem.field, "reason": problem.reason} for problem in problems],
        },
        400,
    )
