"""Pages of a long list: opaque cursors, and the ``next``/``previous`` cursors of each page.

A list (stored events newest first, a profile's events in time order) is read one page at a
time from a cursor, the position of the item a page ended on. Positions are keys the list is
ordered by (``seq``, or an order key and ``seq``), never offsets, so a page read while new
items arrive neither repeats nor skips one, and every item can be reached.

- ``next`` continues in the list's order from the page's last item; it is ``None`` when nothing
  further exists at the time of the request.
- ``previous`` goes back against the list's order from the page's first item; it is ``None``
  only on an empty page (items can arrive there later: keep the cursor you had).

``link_header`` gives both as an RFC 8288 ``Link`` header.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar
from urllib.parse import urlencode

import orjson

T = TypeVar("T")

Position = tuple[str | int, ...]
"""The keys an item is ordered by, in order: ``(seq,)`` or ``(order_key, seq)``."""

MAX_CURSOR_CHARS: Final = 2048
"""Longer text is never a cursor this server gave (order keys are a few hundred characters)."""

MAX_SEQ: Final = 2**63 - 1
"""The largest position either database can hold (a signed 64-bit integer)."""


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, in the list's order, with the cursors to the pages beside it."""

    items: list[T]
    next: str | None
    previous: str | None


def encode_cursor(position: Position) -> str:
    """An opaque, URL-safe cursor for ``position``."""
    return base64.urlsafe_b64encode(orjson.dumps(position)).decode().rstrip("=")


def decode_cursor(text: str, shape: Sequence[type]) -> Position:
    """The position a cursor of ``shape`` (``(int,)``, ``(str, int)`` ...) holds.

    Raises ``ValueError`` for anything this server could not have given: bad base64 or JSON,
    another shape, a negative or over-large ``seq``, or a NUL character in a key.
    """
    if not text or len(text) > MAX_CURSOR_CHARS:
        raise ValueError("not a cursor")
    try:
        decoded = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not a cursor") from exc
    if not isinstance(decoded, list) or len(decoded) != len(shape):
        raise ValueError("not a cursor")
    for value, kind in zip(decoded, shape, strict=True):
        if kind is int:
            if type(value) is not int or not 0 <= value <= MAX_SEQ:
                raise ValueError("not a cursor")
        elif type(value) is not kind or (isinstance(value, str) and "\x00" in value):
            raise ValueError("not a cursor")
    return tuple(decoded)


def forward_page(rows: Sequence[T], limit: int, position: Callable[[T], Position]) -> Page[T]:
    """The page of ``rows`` read in the list's order (``limit + 1`` asked for, to see the end)."""
    items = list(rows[:limit])
    more = len(rows) > limit
    return Page(
        items,
        next=encode_cursor(position(items[-1])) if items and more else None,
        previous=encode_cursor(position(items[0])) if items else None,
    )


def backward_page(rows: Sequence[T], limit: int, position: Callable[[T], Position]) -> Page[T]:
    """The page of ``rows`` read against the list's order (nearest the cursor first), put back
    in the list's order."""
    items = list(reversed(rows[:limit]))
    return Page(
        items,
        next=encode_cursor(position(items[-1])) if items else None,
        previous=encode_cursor(position(items[0])) if items else None,
    )


def link_header(path: str, query: Mapping[str, str], page: Page[Any], forward: str) -> str:
    """RFC 8288 ``Link`` to the next and previous pages, the other parameters kept.

    ``forward`` names the parameter that continues in the list's order (``before`` for a list
    newest first, ``after`` for one in time order); the other goes back.
    """
    backward = "after" if forward == "before" else "before"
    kept = {name: value for name, value in query.items() if name not in ("before", "after")}
    links = []
    for cursor, parameter, relation in (
        (page.next, forward, "next"),
        (page.previous, backward, "prev"),
    ):
        if cursor is not None:
            links.append(f'<{path}?{urlencode({**kept, parameter: cursor})}>; rel="{relation}"')
    return ", ".join(links)
