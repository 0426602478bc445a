"""A request id on every reply and on every log line a request causes.

A request's ``X-Request-Id`` is kept when it is sane (1 to 128 letters, digits and
``-_.:/+=@``, as proxies and load balancers make them), else a new one is drawn. The id is
bound to ``audience.logs.request_id`` while the request runs, so every record it logs carries
it (``requestId`` in the JSON format), and it is sent back as ``X-Request-Id``.
"""

from __future__ import annotations

import itertools
import re
import secrets
from collections.abc import Iterable
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from audience import logs
from audience.clock import IdFactory

HEADER: Final = b"x-request-id"
SANE_ID: Final = re.compile(rb"[A-Za-z0-9\-_.:/+=@]{1,128}")


def given_id(scope: Scope) -> str | None:
    """The request's own ``X-Request-Id`` if it is sane (the first one, if several)."""
    for name, value in scope.get("headers", ()):
        if name == HEADER:
            return sane_id(value)
    return None


def sane_id(value: bytes) -> str | None:
    """An ``X-Request-Id`` header's value as the id to keep, or ``None`` when it is not sane."""
    return value.decode("ascii") if SANE_ID.fullmatch(value) else None


def with_id_header(
    headers: Iterable[tuple[bytes, bytes]], header: tuple[bytes, bytes]
) -> list[tuple[bytes, bytes]]:
    """A reply's ``headers`` with ``header`` (``X-Request-Id``) in place of any it had."""
    return [*(item for item in headers if item[0].lower() != HEADER), header]


class ProcessRequestIds:
    """Request ids of one process: a random prefix drawn once, then a counter (``9f1c...-2a``).

    Unique across processes and restarts by the 64 random bits of the prefix, and a few
    microseconds cheaper a request than a UUID, which reads the operating system's random
    source every time: a request id needs to be unique, not unguessable.
    """

    def __init__(self) -> None:
        self._prefix = secrets.token_hex(8)
        self._counter = itertools.count(1)

    def new(self) -> str:
        return f"{self._prefix}-{next(self._counter):x}"


class RequestIds:
    """Binds each HTTP request's id for logging and echoes it as ``X-Request-Id``."""

    def __init__(self, app: ASGIApp, ids: IdFactory | None = None) -> None:
        self.app = app
        self._ids = ids or ProcessRequestIds()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = given_id(scope) or self._ids.new()
        header = (HEADER, request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = with_id_header(message.get("headers", ()), header)
            await send(message)

        token = logs.request_id.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            logs.request_id.reset(token)
