"""Who the SDK is speaking for: the pure identity rules of the user and the group.

The rules are the browser source's, minus its bugs:

- the anonymous id changes only on ``reset()``, when every store is cleared, and on identify with
  a user id different from a stored, non-empty one (``None`` and ``""`` never count as a change);
- identify merges traits for the same (or the first) user and replaces them for a different one;
- a group is its own value: changing the group never touches the user's anonymous id.

Values here are frozen; an anonymous id of ``None`` means "mint a new one on the next read".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Final

from audience.jsontypes import JSON, JSONObject

ANONYMOUS_ID_KEY: Final = "ajs_anonymous_id"
USER_ID_KEY: Final = "ajs_user_id"
GROUP_ID_KEY: Final = "ajs_group_id"
USER_TRAITS_KEY: Final = "ajs_user_traits"
GROUP_TRAITS_KEY: Final = "ajs_group_properties"
"""The browser source's storage keys: ids in the cookie and the local store, traits only locally."""


def stored_id(value: JSON | None) -> str | None:
    """An id as read from a store: strings as they are, numbers as text, anything else absent."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def stored_traits(value: JSON | None) -> JSONObject:
    """Traits as read from a store: a JSON object, or empty."""
    return dict(value) if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Identity:
    """The person the SDK speaks for: anonymous id, user id (``None`` while anonymous), traits."""

    anonymous_id: str | None
    user_id: str | None = None
    traits: Mapping[str, JSON] = field(default_factory=dict)

    def rotates_on(self, user_id: str | None) -> bool:
        """Whether identifying as ``user_id`` starts a new anonymous visitor."""
        return bool(user_id) and bool(self.user_id) and user_id != self.user_id

    def identify(self, user_id: str | None, traits: Mapping[str, JSON]) -> Identity:
        """Same or first user (or no id given): merge traits. A different user: start over with
        a fresh anonymous id (``None`` until minted) and only the new traits."""
        if self.rotates_on(user_id):
            return Identity(anonymous_id=None, user_id=user_id, traits=dict(traits))
        return replace(self, user_id=user_id or self.user_id, traits={**self.traits, **traits})

    def with_anonymous_id(self, anonymous_id: str | None) -> Identity:
        """The same person known by another anonymous id (``None`` mints a new one)."""
        return replace(self, anonymous_id=anonymous_id)

    def with_traits(self, traits: Mapping[str, JSON]) -> Identity:
        """The cached traits replaced as a whole; ``{}`` clears them."""
        return replace(self, traits=dict(traits))

    def reset(self) -> Identity:
        """Logged out: no user id, no traits, and a new anonymous id on the next read."""
        return Identity(anonymous_id=None)


@dataclass(frozen=True)
class GroupIdentity:
    """The group (account, company) the user acts for, with its cached traits."""

    group_id: str | None = None
    traits: Mapping[str, JSON] = field(default_factory=dict)

    def identify(self, group_id: str | None, traits: Mapping[str, JSON]) -> GroupIdentity:
        """Same or first group (or no id given): merge traits. Another group: replace them."""
        if group_id and self.group_id and group_id != self.group_id:
            return GroupIdentity(group_id=group_id, traits=dict(traits))
        return GroupIdentity(group_id=group_id or self.group_id, traits={**self.traits, **traits})

    def with_traits(self, traits: Mapping[str, JSON]) -> GroupIdentity:
        """The cached group traits replaced as a whole; ``{}`` clears them."""
        return replace(self, traits=dict(traits))

    def reset(self) -> GroupIdentity:
        """No group any more."""
        return GroupIdentity()
