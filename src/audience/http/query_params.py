"""Query parameters: the one reader every admin, profile and page route uses.

A route reads each parameter through :class:`QueryReader` (whole numbers within bounds, one
of a set of values, text, a cursor), then calls ``finish()``, which raises ``QueryError``
naming every malformed parameter with its reason. A bad value therefore gets a 400 that names
it, never a failure deeper down (``int("²")``, a 25-digit number SQLite cannot bind, a NUL
character PostgreSQL cannot store). It is pure: it sees only the ``(name, value)`` pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Final, TypeVar

from audience.errors import QueryError, ValidationError

T = TypeVar("T")

MAX_TEXT_CHARS: Final = 10_000
"""Longer text matches nothing that is stored in a filter or a search, so it is refused."""

MAX_DIGITS: Final = 19
"""More digits than a signed 64-bit integer has can only be out of any bound."""


class QueryReader:
    """Reads one request's query parameters, collecting every problem until ``finish()``."""

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self._values: dict[str, list[str]] = {}
        for name, value in items:
            self._values.setdefault(name, []).append(value)
        self._problems: list[ValidationError] = []

    def present(self, name: str) -> bool:
        """Whether the parameter was given at all (even empty)."""
        return name in self._values

    def problem(self, name: str, reason: str) -> None:
        """Record a problem a route found itself (two parameters that exclude each other ...)."""
        if all(found.field != name for found in self._problems):
            self._problems.append(ValidationError(name, reason))

    def text(self, name: str, *, max_chars: int = MAX_TEXT_CHARS) -> str | None:
        """The parameter as given, or ``None`` when absent."""
        value = self._single(name)
        if value is None:
            return None
        if "\x00" in value:
            self.problem(name, "contains a NUL character")
            return None
        if len(value) > max_chars:
            self.problem(name, f"is longer than {max_chars} characters")
            return None
        return value

    def integer(self, name: str, *, default: int, minimum: int, maximum: int) -> int:
        """A whole number written in ASCII digits within ``[minimum, maximum]``; ``default`` when
        absent (and when malformed, after recording the problem)."""
        value = self._single(name)
        if value is None:
            return default
        reason = f"must be a whole number from {minimum} to {maximum}"
        if not (value.isascii() and value.isdigit()) or len(value) > MAX_DIGITS:
            self.problem(name, reason)
            return default
        number = int(value)
        if not minimum <= number <= maximum:
            self.problem(name, reason)
            return default
        return number

    def choice(self, name: str, options: Sequence[str]) -> str | None:
        """One of ``options``, or ``None`` when absent."""
        value = self._single(name)
        if value is None or value in options:
            return value
        self.problem(name, f"must be one of {', '.join(options)}")
        return None

    def cursor(self, name: str, decode: Callable[[str], T]) -> T | None:
        """A cursor a reply of this list gave, read by ``decode`` (which raises ``ValueError``)."""
        value = self._single(name)
        if value is None:
            return None
        try:
            return decode(value)
        except ValueError:
            self.problem(name, "is not a cursor this list gave (use its next or previous)")
            return None

    def exclusive(self, *names: str) -> None:
        """Refuse more than one of ``names`` in one request."""
        given = [name for name in names if self.present(name)]
        for name in given[1:]:
            self.problem(name, f"cannot be combined with {given[0]}")

    def finish(self) -> None:
        """Raise ``QueryError`` naming every problem found so far."""
        if self._problems:
            raise QueryError(tuple(self._problems))

    def _single(self, name: str) -> str | None:
        values = self._values.get(name)
        if not values:
            return None
        if len(values) > 1:
            self.problem(name, "is given more than once")
            return None
        return values[0]
