"""A sender that speaks for one identity kept in a KeyValueStore, over a shared pipeline.

``Tracker`` is where the identity rules meet the stores: every call re-reads the stores (cheaply:
see ``audience.sdk.shared_files``), applies the pure rules of ``audience.sdk.identity``, builds and
encodes the message, and only then writes the new identity and hands the message off. Many
trackers can share one ``Pipeline`` (one delivery worker): ``Analytics`` has one over its
persistent stores, ``Analytics.for_user`` makes throwaway ones over memory, and a web middleware
makes one per request over that request's cookies.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import Enum
from typing import Final

from audience.clock import Clock, IdFactory
from audience.errors import ValidationError
from audience.jsontypes import JSON, JSONObject
from audience.sdk.identity import (
    ANONYMOUS_ID_KEY,
    GROUP_ID_KEY,
    GROUP_TRAITS_KEY,
    USER_ID_KEY,
    USER_TRAITS_KEY,
    GroupIdentity,
    Identity,
    stored_id,
    stored_traits,
)
from audience.sdk.messages import (
    NO_OPTIONS,
    Options,
    TimestampFormatter,
    build_message,
    encode_message,
    optional_id,
    optional_mapping,
    optional_text,
    read_options,
)
from audience.sdk.stores import KeyValueStore
from audience.sdk.worker import DeliveryWorker
from audience.tracking import MessageType


class Unset(Enum):
    """Marks an argument that was not given (``None`` means "clear")."""

    UNSET = "unset"


UNSET: Final = Unset.UNSET


class Pipeline:
    """What every sender shares: the clock, message ids, the library stamp and the worker."""

    def __init__(
        self, *, worker: DeliveryWorker, clock: Clock, message_ids: IdFactory, library: JSONObject
    ) -> None:
        self.worker = worker
        self.clock = clock
        self.message_ids = message_ids
        self.library = library
        self.format_timestamp = TimestampFormatter()

    def timestamp(self) -> str:
        """Now, as the wire writes it."""
        return self.format_timestamp(self.clock.now())


class Tracker:
    """page / screen / track / identify / group / alias for the identity kept in ``ids``.

    ``ids`` holds the user, anonymous and group ids; ``traits`` the cached user and group traits
    (the same store when not given). With ``mint_anonymous_ids`` off, a tracker never invents an
    anonymous id (a server speaking for a known user id sends ``anonymousId: null``).
    """

    def __init__(
        self,
        pipeline: Pipeline,
        ids: KeyValueStore,
        traits: KeyValueStore | None = None,
        *,
        anonymous_ids: IdFactory,
        mint_anonymous_ids: bool = True,
    ) -> None:
        self._pipeline = pipeline
        self._new_message_id = pipeline.message_ids.new
        self._now = pipeline.clock.now
        self._format_timestamp = pipeline.format_timestamp
        self._ids = ids
        self._traits = ids if traits is None else traits
        self._anonymous_ids = anonymous_ids
        self._mint = mint_anonymous_ids
        version = getattr(ids, "version", None)
        self._ids_version: Callable[[], object] | None = version if callable(version) else None
        self._seen: tuple[object, str | None, str | None] = (None, None, None)

    # -- identity ------------------------------------------------------------------------

    def anonymous_id(self) -> str | None:
        """The stored anonymous id, minted (UUID v4) and persisted when no store has one."""
        current = stored_id(self._ids.get(ANONYMOUS_ID_KEY))
        if current is None and self._mint:
            current = self._anonymous_ids.new()
            self._ids.set(ANONYMOUS_ID_KEY, current)
        return current

    def _current_ids(self) -> tuple[str | None, str | None]:
        """(anonymous id, user id), re-read from the stores only when their version moved."""
        version_of = self._ids_version
        version = None if version_of is None else version_of()
        if version is not None:
            seen_version, anonymous, user = self._seen
            if version == seen_version:
                return anonymous, user
        anonymous = self.anonymous_id()
        user = self.user_id()
        if version is not None:
            # The version read *before* the ids: a write that lands meanwhile (or a write-back
            # these reads made) moves it, and the next call reads again.
            self._seen = (version, anonymous, user)
        return anonymous, user

    def set_anonymous_id(self, anonymous_id: str | Unset | None = UNSET) -> str | None:
        """Persist ``anonymous_id`` (``None`` clears it); return the anonymous id now in use."""
        if anonymous_id is not UNSET:
            if anonymous_id is not None and (not isinstance(anonymous_id, str) or not anonymous_id):
                raise ValidationError("anonymous_id", "must be a non-empty string or None")
            self._ids.set(ANONYMOUS_ID_KEY, anonymous_id)
        return self.anonymous_id()

    def user_id(self) -> str | None:
        """The stored user id, ``None`` while anonymous."""
        return stored_id(self._ids.get(USER_ID_KEY))

    def user_traits(self, traits: Mapping[str, JSON] | Unset | None = UNSET) -> JSONObject:
        """The cached user traits; given a mapping, replace them (``{}`` or ``None`` clears)."""
        if traits is not UNSET:
            self._traits.set(USER_TRAITS_KEY, dict(optional_mapping("traits", traits)))
        return stored_traits(self._traits.get(USER_TRAITS_KEY))

    def group_id(self) -> str | None:
        """The stored group id, ``None`` when the user acts for no group."""
        return stored_id(self._ids.get(GROUP_ID_KEY))

    def group_traits(self, traits: Mapping[str, JSON] | Unset | None = UNSET) -> JSONObject:
        """The cached group traits; given a mapping, replace them (``{}`` or ``None`` clears)."""
        if traits is not UNSET:
            self._traits.set(GROUP_TRAITS_KEY, dict(optional_mapping("traits", traits)))
        return stored_traits(self._traits.get(GROUP_TRAITS_KEY))

    def identity(self) -> Identity:
        """The user as the stores hold them now."""
        return Identity(self.anonymous_id(), self.user_id(), self.user_traits())

    def reset(self) -> None:
        """Log out: forget user id, anonymous id, traits, group id and group traits."""
        for key in (USER_ID_KEY, ANONYMOUS_ID_KEY, GROUP_ID_KEY):
            self._ids.remove(key)
        for key in (USER_TRAITS_KEY, GROUP_TRAITS_KEY):
            self._traits.remove(key)

    # -- events --------------------------------------------------------------------------

    def track(
        self,
        event: str,
        properties: Mapping[str, JSON] | None = None,
        options: Mapping[str, JSON] | None = None,
    ) -> None:
        """Record that the user did ``event``."""
        if type(event) is not str or not event:
            raise ValidationError("event", "must be a non-empty string")
        if type(properties) is not dict:
            properties = optional_mapping("properties", properties)
        fields = {"event": event, "properties": properties}
        arguments = (("properties", properties), ("options", options), ("event", event))
        opts = NO_OPTIONS if options is None else read_options(options)
        self._emit("track", fields, opts, arguments)

    def page(
        self,
        name: str | None = None,
        properties: Mapping[str, JSON] | None = None,
        options: Mapping[str, JSON] | None = None,
        category: str | None = None,
    ) -> None:
        """Record a page view; ``name`` and ``category`` are copied into the properties."""
        self._view("page", name, properties, options, category)

    def screen(
        self,
        name: str | None = None,
        properties: Mapping[str, JSON] | None = None,
        options: Mapping[str, JSON] | None = None,
        category: str | None = None,
    ) -> None:
        """Record a screen view in an app."""
        self._view("screen", name, properties, options, category)

    def _view(
        self,
        kind: MessageType,
        name: str | None,
        properties: Mapping[str, JSON] | None,
        options: Mapping[str, JSON] | None,
        category: str | None,
    ) -> None:
        name = optional_text("name", name)
        category = optional_text("category", category)
        props = dict(optional_mapping("properties", properties))
        fields: JSONObject = {}
        if name is not None:
            fields["name"] = name
        if category is not None:
            fields["category"] = category
        if kind == "page":
            props.update(fields)
        fields["properties"] = props
        arguments = (("properties", properties), ("options", options), ("name", name))
        self._emit(kind, fields, read_options(options), arguments)

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
        given = optional_mapping("traits", traits)
        opts = read_options(options)
        before = self.identity()
        after = before.identify(new_user, given)
        if after.anonymous_id is None:
            after = after.with_anonymous_id(self._anonymous_ids.new() if self._mint else None)
        if opts.anonymous_id:
            after = after.with_anonymous_id(opts.anonymous_id)
        message = build_message(
            "identify",
            {"traits": dict(after.traits)},
            anonymous_id=after.anonymous_id,
            user_id=after.user_id,
            timestamp=self._pipeline.timestamp(),
            message_id=self._pipeline.message_ids.new(),
            library=self._pipeline.library,
            options=opts,
        )
        body = encode_message(message, (("traits", traits), ("options", options)))
        self._save(before, after)
        self._pipeline.worker.accept(body)

    def _save(self, before: Identity, after: Identity) -> None:
        if after.user_id != before.user_id:
            self._ids.set(USER_ID_KEY, after.user_id)
        if after.anonymous_id != before.anonymous_id:
            self._ids.set(ANONYMOUS_ID_KEY, after.anonymous_id)
        if after.traits != before.traits:
            self._traits.set(USER_TRAITS_KEY, dict(after.traits))

    def group(
        self,
        group_id: str | None = None,
        traits: Mapping[str, JSON] | None = None,
        options: Mapping[str, JSON] | None = None,
    ) -> None:
        """Say which group the user acts for: the same or a first group merges ``traits``,
        another replaces them. The user's anonymous id is never touched."""
        new_group = optional_id("group_id", group_id)
        given = optional_mapping("traits", traits)
        opts = read_options(options)
        before = GroupIdentity(self.group_id(), self.group_traits())
        after = before.identify(new_group, given)
        if after.group_id is None:
            raise ValidationError("group_id", "is required while no group is stored")
        fields = {"groupId": after.group_id, "traits": dict(after.traits)}
        self._emit("group", fields, opts, (("traits", traits), ("options", options)))
        if after.group_id != before.group_id:
            self._ids.set(GROUP_ID_KEY, after.group_id)
        if after.traits != before.traits:
            self._traits.set(GROUP_TRAITS_KEY, dict(after.traits))

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
        opts = read_options(options)
        anonymous = opts.anonymous_id or self.anonymous_id()
        if previous is None:
            previous = self.user_id() or anonymous
        if previous is None:
            raise ValidationError("previous_id", "is required when no id is stored")
        message = build_message(
            "alias",
            {"previousId": previous},
            anonymous_id=anonymous,
            user_id=new_user,
            timestamp=self._pipeline.timestamp(),
            message_id=self._pipeline.message_ids.new(),
            library=self._pipeline.library,
            options=opts,
        )
        body = encode_message(message, (("options", options),))
        self._persist_option_anonymous_id(opts)
        self._pipeline.worker.accept(body)

    def _emit(
        self,
        kind: MessageType,
        fields: JSONObject,
        opts: Options,
        arguments: tuple[tuple[str, object], ...],
    ) -> None:
        pipeline = self._pipeline
        anonymous, user = self._current_ids()
        if opts.anonymous_id is not None:
            anonymous = opts.anonymous_id
        message = build_message(
            kind,
            fields,
            anonymous_id=anonymous,
            user_id=user,
            timestamp=self._format_timestamp(self._now()),
            message_id=self._new_message_id(),
            library=pipeline.library,
            options=opts,
        )
        if message["anonymousId"] is None and message["userId"] is None:
            raise ValidationError("user_id", "no user id or anonymous id to send the event for")
        body = encode_message(message, arguments)
        if opts.anonymous_id is not None:
            self._ids.set(ANONYMOUS_ID_KEY, opts.anonymous_id)
        pipeline.worker.accept(body)

    def _persist_option_anonymous_id(self, opts: Options) -> None:
        if opts.anonymous_id is not None:
            self._ids.set(ANONYMOUS_ID_KEY, opts.anonymous_id)


def explicit_identity_store(user_id: str | None, anonymous_id: str | None) -> dict[str, JSON]:
    """The ids a ``for_user`` sender starts from, checked."""
    uid = optional_id("user_id", user_id)
    aid = optional_id("anonymous_id", anonymous_id)
    if uid is None and aid is None:
        raise ValidationError("user_id", "give a user_id or an anonymous_id")
    values: dict[str, JSON] = {}
    if uid is not None:
        values[USER_ID_KEY] = uid
    if aid is not None:
        values[ANONYMOUS_ID_KEY] = aid
    return values
