"""A sender that speaks for one identity kept in a KeyValueStore, over a shared pipeline.

``Tracker`` is where the identity rules meet the stores: every call (checked by
``audience.sdk.calls``) re-reads the stores (cheaply: see ``audience.sdk.shared_files``), applies
the pure rules of ``audience.sdk.identity``, builds and encodes the message, and only then writes
the new identity and hands the message off. Many trackers can share one ``Pipeline`` (one
delivery worker): ``Analytics`` has one over its persistent stores, ``Analytics.for_user`` makes
throwaway ones over memory, and a web middleware makes one per request over that request's
cookies.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from audience.clock import Clock, IdFactory
from audience.errors import ValidationError
from audience.jsontypes import JSON, JSONObject
from audience.sdk.calls import (
    UNSET,
    AliasCall,
    Call,
    CallMethods,
    GroupCall,
    IdentifyCall,
    TrackCall,
    Unset,
    ViewCall,
)
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
    Options,
    TimestampFormatter,
    build_message,
    encode_message,
    optional_id,
    optional_mapping,
)
from audience.sdk.stores import KeyValueStore
from audience.sdk.worker import DeliveryWorker
from audience.tracking import MessageType


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


class Tracker(CallMethods):
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

    def send(self, call: Call) -> None:
        """Build the message of a checked call from this identity and enqueue it; the identity
        changes it makes are written only once the message is built."""
        match call:
            case TrackCall():  # the most frequent call, without a method of its own
                arguments = (
                    ("properties", call.properties),
                    ("options", call.options),
                    ("event", call.event),
                )
                fields = {"event": call.event, "properties": call.properties}
                self._emit("track", fields, call.opts, arguments)
            case ViewCall():
                self._view(call)
            case IdentifyCall():
                self._identify(call)
            case GroupCall():
                self._group(call)
            case AliasCall():
                self._alias(call)

    _send = send

    def _identity_source(self) -> Tracker:
        return self

    def _view(self, call: ViewCall) -> None:
        props = dict(call.properties)
        fields: JSONObject = {}
        if call.name is not None:
            fields["name"] = call.name
        if call.category is not None:
            fields["category"] = call.category
        if call.kind == "page":
            props.update(fields)
        fields["properties"] = props
        arguments = (
            ("properties", call.properties),
            ("options", call.options),
            ("name", call.name),
        )
        self._emit(call.kind, fields, call.opts, arguments)

    def _identify(self, call: IdentifyCall) -> None:
        opts = call.opts
        before = self.identity()
        after = before.identify(call.user_id, call.traits)
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
        body = encode_message(message, (("traits", call.traits), ("options", call.options)))
        self._save(before, after)
        self._pipeline.worker.accept(body)

    def _save(self, before: Identity, after: Identity) -> None:
        if after.user_id != before.user_id:
            self._ids.set(USER_ID_KEY, after.user_id)
        if after.anonymous_id != before.anonymous_id:
            self._ids.set(ANONYMOUS_ID_KEY, after.anonymous_id)
        if after.traits != before.traits:
            self._traits.set(USER_TRAITS_KEY, dict(after.traits))

    def _group(self, call: GroupCall) -> None:
        before = GroupIdentity(self.group_id(), self.group_traits())
        after = before.identify(call.group_id, call.traits)
        if after.group_id is None:
            raise ValidationError("group_id", "is required while no group is stored")
        fields = {"groupId": after.group_id, "traits": dict(after.traits)}
        arguments = (("traits", call.traits), ("options", call.options))
        self._emit("group", fields, call.opts, arguments)
        if after.group_id != before.group_id:
            self._ids.set(GROUP_ID_KEY, after.group_id)
        if after.traits != before.traits:
            self._traits.set(GROUP_TRAITS_KEY, dict(after.traits))

    def _alias(self, call: AliasCall) -> None:
        opts = call.opts
        anonymous = opts.anonymous_id or self.anonymous_id()
        previous = call.previous_id
        if previous is None:
            previous = self.user_id() or anonymous
        if previous is None:
            raise ValidationError("previous_id", "is required when no id is stored")
        message = build_message(
            "alias",
            {"previousId": previous},
            anonymous_id=anonymous,
            user_id=call.user_id,
            timestamp=self._pipeline.timestamp(),
            message_id=self._pipeline.message_ids.new(),
            library=self._pipeline.library,
            options=opts,
        )
        body = encode_message(message, (("options", call.options),))
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
