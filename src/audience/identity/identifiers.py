"""Identifiers: the typed names a person is known by, and junk values that never count as one."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

from audience.jsontypes import JSON

IdentifierType: TypeAlias = Literal["user_id", "email", "anonymous_id"]

IDENTIFIER_TYPES: Final[tuple[IdentifierType, ...]] = ("user_id", "anonymous_id", "email")
"""Every identifier type, as the operators' forms and requests name them."""

TYPE_RANK: Final[dict[str, int]] = {"user_id": 0, "email": 1, "anonymous_id": 2}
"""Priority of identifier types: a user id names a person better than an email, an email better
than an anonymous id. The best identifier of a profile gives the profile its id."""

_JUNK_ANY_CASE: Final = frozenset(
    {
        "anonymous",
        "anonymousid",
        "anonymous_id",
        "guest",
        "distinctid",
        "distinct_id",
        "id",
        "not_authenticated",
        "email",
        "undefined",
        "null",
        "none",
        "nil",
        "nan",
        "true",
        "false",
        "[object object]",
        "-1",
        "void",
        "user",
        "userid",
        "user_id",
    }
)
"""Values that clients send when they meant "no id" (PostHog's illegal ids, Segment's suggested
blocklist, and the constants broken SDKs are known to send), compared case-insensitively."""

_ZERO_CHARACTERS: Final = "0-"

_QUOTES: Final = "\"'`"


@dataclass(frozen=True, order=True)
class Identifier:
    """One name of a person: ``user_id``, ``email`` (lower-cased) or ``anonymous_id``."""

    type: IdentifierType
    value: str

    @property
    def key(self) -> str:
        """A stable opaque id; a profile's id is the key of its best identifier."""
        digest = hashlib.sha256(f"{self.type}\x1f{self.value}".encode()).hexdigest()
        return f"prof_{digest[:20]}"

    @property
    def rank(self) -> tuple[int, str]:
        """Sort order for choosing a profile's best identifier: user ids first, then by value."""
        return (TYPE_RANK[self.type], self.value)


def is_junk(value: str) -> bool:
    """True for values that must never link anyone: placeholders, all-zero ids, blanks, quotes."""
    stripped = value.strip()
    unquoted = stripped.strip(_QUOTES).strip()
    # Only zeros and dashes (or nothing), as in 00000000-0000-...: Segment's ``^[0-]*$`` rule.
    if not stripped.strip(_ZERO_CHARACTERS) or not unquoted.strip(_ZERO_CHARACTERS):
        return True
    return stripped.lower() in _JUNK_ANY_CASE or unquoted.lower() in _JUNK_ANY_CASE


def clean_id(raw: JSON) -> str | None:
    """The identifier value a wire field carries, or ``None`` when it is absent or junk.

    Numbers become their decimal text (the SDKs stringify them too) and whitespace is trimmed.
    """
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, int | float):
        raw = str(int(raw)) if isinstance(raw, float) and raw.is_integer() else str(raw)
    if not isinstance(raw, str):
        return None
    value = raw.strip()
    return None if is_junk(value) else value


def clean_email(raw: JSON) -> str | None:
    """A usable email identifier: trimmed, lower-cased, containing one ``@``; otherwise ``None``."""
    value = clean_id(raw)
    if value is None or value.count("@") != 1:
        return None
    local, _, domain = value.partition("@")
    if not local or not domain:
        return None
    return value.lower()
