"""The six calls of the tracking API, written once: ``page``, ``screen``, ``track``,
``identify``, ``group`` and ``alias``, with their signatures, docstrings and argument checks.

``CallMethods`` checks what can be checked without the identity (a wrong type raises
``ValidationError`` at the call site, naming the argument, and nothing is queued) and turns each
call into a ``Call``: a value saying what was asked. A class offering the calls decides only
where a ``Call`` goes (``_send``) and whose identity ``user()`` and ``group()`` read
(``_identity_source``):

- ``Tracker`` builds the message from the identity in its stores and enqueues it;
- ``Analytics`` hands it to its tracker, or holds it (with the time of the call) until ``load()``;
- a web ``Visitor`` hands it to the tracker over that request's cookies.

So the three answer every call the same way, and the rules that need the identity (a group id
is required while none is stored, a previous id while no id is stored, values JSON cannot hold,
the 32 KB limit) are applied in one place, ``Tracker``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import Enum
from typing import Final, Literal, Protocol, TypeAlias, overload

from audience.errors import ValidationError
from audience.jsontypes import JSON, JSONObject
from audience.sdk.messages import (
    NO_OPTIONS,
    Options,
    optional_id,
    optional_mapping,
    optional_text,
    read_options,
)


class Unset(Enum):
    """Marks an argument that was not given (``None`` means "clear")."""

    UNSET = "unset"


UNSET: Final = Unset.UNSET


# -- the calls as values ------------------------------------------------------------------
#
# ``options`` is the mapping as the caller gave it (an error names what it holds), ``opts`` the
# same options read and checked. A call is never changed once made (``stamped`` makes a copy);
# the classes are not frozen only because a frozen one takes three times as long to make, and one
# is made on every call.


@dataclass(slots=True)
class TrackCall:
    """``track(event, properties, options)``, checked."""

    event: str
    properties: Mapping[str, JSON]
    options: Mapping[str, JSON] | None
    opts: Options


@dataclass(slots=True)
class ViewCall:
    """``page(...)`` or ``screen(...)``, checked."""

    kind: Literal["page", "screen"]
    name: str | None
    category: str | None
    properties: Mapping[str, JSON]
    options: Mapping[str, JSON] | None
    opts: Options


@dataclass(slots=True)
class IdentifyCall:
    """``identify(user_id, traits, options)``, checked."""

    user_id: str | None
    traits: Mapping[str, JSON]
    options: Mapping[str, JSON] | None
    opts: Options


@dataclass(slots=True)
class GroupCall:
    """``group(group_id, traits, options)``, checked."""

    group_id: str | None
    traits: Mapping[str, JSON]
    options: Mapping[str, JSON] | None
    opts: Options


@dataclass(slots=True)
class AliasCall:
    """``alias(user_id, previous_id, options)``, checked."""

    user_id: str
    previous_id: str | None
    options: Mapping[str, JSON] | None
    opts: Options


Call: TypeAlias = TrackCall | ViewCall | IdentifyCall | GroupCall | AliasCall
"""One call of the tracking API, its arguments checked."""


def stamped(call: Call, timestamp: str) -> Call:
    """``call`` as if its options had said ``timestamp`` (unless they already say one): a call
    held until ``load()`` keeps the time it was made."""
    if call.opts.timestamp is not None:
        return call
    options = {**(call.options or {}), "timestamp": timestamp}
    return replace(call, options=options, opts=replace(call.opts, timestamp=timestamp))


# -- reading the identity -----------------------------------------------------------------


class IdentitySource(Protocol):
    """Where ``user()`` and ``group()`` read and override the ids and traits."""

    def set_anonymous_id(self, anonymous_id: str | Unset | None = UNSET) -> str | None:
        """Persist ``anonymous_id`` unless ``UNSET``; return the anonymous id in use."""
        ...

    def user_id(self) -> str | None:
        """The user id, ``None`` while anonymous."""
        ...

    def user_traits(self, traits: Mapping[str, JSON] | Unset | None = UNSET) -> JSONObject:
        """The cached user traits, replaced first when given."""
        ...

    def group_id(self) -> str | None:
        """The group id, ``None`` when there is none."""
        ...

    def group_traits(self, traits: Mapping[str, JSON] | Unset | None = UNSET) -> JSONObject:
        """The cached group traits, replaced first when given."""
        ...


class User:
    """``analytics.user()``: read or override the current user's ids and traits."""

    def __init__(self, identity: IdentitySource) -> None:
        self._identity = identity

    def anonymous_id(self, anonymous_id: str | Unset | None = UNSET) -> str | None:
        """The anonymous id (minted when absent); given one, persist it (``None`` clears)."""
        return self._identity.set_anonymous_id(anonymous_id)

    def id(self) -> str | None:
        """The user id, ``None`` while anonymous."""
        return self._identity.user_id()

    def traits(self, traits: Mapping[str, JSON] | Unset | None = UNSET) -> JSONObject:
        """The cached traits; ``traits({})`` clears them."""
        return self._identity.user_traits(traits)


class Group:
    """``analytics.group()``: read or clear the current group's id and traits."""

    def __init__(self, identity: IdentitySource) -> None:
        self._identity = identity

    def id(self) -> str | None:
        """The group id, ``None`` when there is none."""
        return self._identity.group_id()

    def traits(self, traits: Mapping[str, JSON] | Unset | None = UNSET) -> JSONObject:
        """The cached group traits; ``traits({})`` clears them."""
        return self._identity.group_traits(traits)


# -- the methods --------------------------------------------------------------------------


class CallMethods(ABC):
    """page / screen / track / identify / group / alias, and the ``user()`` and ``group()``
    accessors, for whatever ``_send`` and ``_identity_source`` stand for."""

    __slots__ = ()

    @abstractmethod
    def _send(self, call: Call) -> None:
        """Take a checked call: build and enqueue its message, or hand it on."""

    @abstractmethod
    def _identity_source(self) -> IdentitySource:
        """The identity ``user()`` and ``group()`` read."""

    def track(
        self,
        event: str,
        properties: Mapping[str, JSON] | None = None,
        options: Mapping[str, JSON] | None = None,
    ) -> None:
        """Record that the user did ``event`` (with ``properties``)."""
        if type(event) is not str or not event:
            raise ValidationError("event", "must be a non-empty string")
        if type(properties) is not dict:  # the checks inlined: track is the call made most
            properties = optional_mapping("properties", properties)
        opts = NO_OPTIONS if options is None else read_options(options)
        self._send(TrackCall(event, properties, options, opts))

    def page(
        self,
        name: str | None = None,
        properties: Mapping[str, JSON] | None = None,
        options: Mapping[str, JSON] | None = None,
        category: str | None = None,
    ) -> None:
        """Record a page view; ``name`` and ``category`` are copied into the properties."""
        self._send(_view("page", name, properties, options, category))

    def screen(
        self,
        name: str | None = None,
        properties: Mapping[str, JSON] | None = None,
        options: Mapping[str, JSON] | None = None,
        category: str | None = None,
    ) -> None:
        """Record a screen view in an app."""
        self._send(_view("screen", name, properties, options, category))

    def identify(
        self,
        user_id: str | None = None,
        traits: Mapping[str, JSON] | None = None,
        options: Mapping[str, JSON] | None = None,
    ) -> None:
        """Say who the user is: a different user id than the stored one starts a new anonymous
        visitor (this identify already carries the new anonymous id); the same or a first user
        id merges ``traits`` into the cached ones."""
        new_user = optional_id("user_id", user_id)
        checked = optional_mapping("traits", traits)
        self._send(IdentifyCall(new_user, checked, options, read_options(options)))

    @overload
    def group(self) -> Group: ...

    @overload
    def group(
        self,
        group_id: str | None = None,
        traits: Mapping[str, JSON] | None = None,
        options: Mapping[str, JSON] | None = None,
    ) -> Group | None: ...

    def group(
        self,
        group_id: str | None = None,
        traits: Mapping[str, JSON] | None = None,
        options: Mapping[str, JSON] | None = None,
    ) -> Group | None:
        """With no arguments, the current group (``id()``, ``traits()``). Otherwise say which
        group the user acts for: the same or a first group merges ``traits``, another replaces
        them. The user's anonymous id is never touched."""
        if group_id is None and traits is None and options is None:
            return Group(self._identity_source())
        new_group = optional_id("group_id", group_id)
        checked = optional_mapping("traits", traits)
        self._send(GroupCall(new_group, checked, options, read_options(options)))
        return None

    def alias(
        self,
        user_id: str,
        previous_id: str | None = None,
        options: Mapping[str, JSON] | None = None,
    ) -> None:
        """Say that ``previous_id`` (by default the current user or anonymous id) and
        ``user_id`` are the same person. Stored ids do not change."""
        new_user = optional_id("user_id", user_id)
        if new_user is None:
            raise ValidationError("user_id", "is required")
        previous = optional_id("previous_id", previous_id)
        self._send(AliasCall(new_user, previous, options, read_options(options)))

    def user(self) -> User:
        """The current user: ``anonymous_id()``, ``id()``, ``traits()``."""
        return User(self._identity_source())


def _view(
    kind: Literal["page", "screen"],
    name: str | None,
    properties: Mapping[str, JSON] | None,
    options: Mapping[str, JSON] | None,
    category: str | None,
) -> ViewCall:
    name = optional_text("name", name)
    category = optional_text("category", category)
    checked = optional_mapping("properties", properties)
    return ViewCall(kind, name, category, checked, options, read_options(options))
