"""Destinations: where committed events go next, how each is configured, and how it retries."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Final, Literal, Protocol, get_args, runtime_checkable

from audience.destinations.filters import EventFilter
from audience.destinations.people import PEOPLE_SCHEMA
from audience.errors import ConfigError
from audience.eventlog import StoredEvent
from audience.jsontypes import JSON, JSONObject
from audience.retry import JITTERS, Jitter, RetryPolicy

DestinationKind = Literal["webhook", "relay", "postgres", "duckdb"]
"""``webhook`` POSTs signed batches to a URL; ``relay`` forwards them to another tracking API;
``postgres`` and ``duckdb`` load warehouse tables."""

KINDS: Final[tuple[str, ...]] = get_args(DestinationKind)

_HIDDEN: Final = "***"
_SECRET_OPTIONS: Final = ("secret", "previous_secret", "write_key")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def integration_enabled(integrations: JSON, name: str) -> bool:
    """Whether a message's ``integrations`` object lets it reach the destination ``name``.

    ``{"crm": false}`` keeps it from ``crm``; ``{"All": false, "crm": true}`` sends it to
    ``crm`` only (an object instead of ``true`` also enables). No object, or no entry for
    the destination and no ``All``, means enabled.
    """
    if not isinstance(integrations, Mapping):
        return True
    if name in integrations:
        return integrations[name] is not False
    return integrations.get("All", True) is not False


class Destination(Protocol):
    """Somewhere a batch of committed events is delivered to.

    ``closes_when_caught_up`` says whether the dispatcher closes it as soon as it has caught up,
    because its open state keeps others out (a DuckDB file allows one writing process at a
    time), rather than keeping its connections open for the next events for a quiet spell.
    """

    closes_when_caught_up: bool

    def deliver(self, events: Sequence[StoredEvent], batch_id: str) -> None:
        """Deliver every event of the batch, or raise.

        ``batch_id`` names the batch and stays the same when it is sent again.

        Raises ``RetryableDeliveryError`` when sending again later may succeed and
        ``PermanentDeliveryError`` when it cannot. Delivering the same batch twice must be
        harmless to the receiver: every event keeps its ``messageId``.
        """
        ...

    def close(self) -> None:
        """Release connections; the destination is not used afterwards."""
        ...


@runtime_checkable
class FollowsProfiles(Protocol):
    """A destination keeping people tables, which follow the profile store's operator actions
    even when no event comes."""

    def follow_profiles(self) -> int:
        """Write what the operator actions recorded since the last call change; rows written.

        Raises ``DeliveryError`` like ``deliver``.
        """
        ...


@dataclass(frozen=True)
class DestinationPolicy:
    """How a destination's batches are formed and retried.

    A failed batch is tried again after ``initial_backoff`` seconds, doubling up to
    ``max_backoff``, spread by ``jitter`` (``"equal"``: between half of it and all of it, so
    the many senders of a shared receiver, a webhook's or a tracking API's, do not come back at
    the same moment; ``"none"``, the default, for a warehouse only this worker writes to).
    After ``max_attempts`` failed attempts it is dead-lettered and the destination moves on.
    A receiver's ``Retry-After`` lengthens the wait, never shortens it, and never past
    ``max_backoff``. The rule is ``audience.retry``'s.
    """

    max_attempts: int = 10
    initial_backoff: float = 1.0
    max_backoff: float = 300.0
    batch_size: int = 100
    jitter: Jitter = "none"

    def __post_init__(self) -> None:
        if self.jitter not in JITTERS:
            raise ConfigError(f"jitter must be one of {', '.join(JITTERS)}")
        if self.max_attempts < 1:
            raise ConfigError("max_attempts must be at least 1")
        if self.batch_size < 1:
            raise ConfigError("batch_size must be at least 1")
        if self.initial_backoff < 0 or self.max_backoff < self.initial_backoff:
            raise ConfigError("backoff must satisfy 0 <= initial_backoff <= max_backoff")

    @cached_property
    def retry(self) -> RetryPolicy:
        """The backoff of this destination as the shared retry rule."""
        return RetryPolicy(
            base=self.initial_backoff,
            cap=self.max_backoff,
            max_retry_after=self.max_backoff,
            jitter=self.jitter,
        )

    def delay(self, attempts: int, retry_after: float | None = None, draw: float = 1.0) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt; ``draw`` in [0, 1] is the
        random draw the jitter spreads the wait by."""
        return self.retry.delay(attempts, retry_after, draw=draw)

    def is_exhausted(self, attempts: int) -> bool:
        """Whether a batch that failed ``attempts`` times goes to the dead letters."""
        return attempts >= self.max_attempts


@dataclass(frozen=True)
class DestinationConfig:
    """One configured destination.

    ``source`` limits it to the events of one source (``None``: every source), and
    ``filters`` to the sources, types and event names they name. ``transform`` is the
    ``package.module:function`` that changes its events first (``None``: none).
    ``options`` hold what its kind needs: ``url`` and ``secret`` (webhook), ``url`` and
    ``write_key`` (relay), ``url`` and optionally ``schema`` (postgres), ``path`` and
    optionally ``schema`` (duckdb); a warehouse with ``people: true`` also keeps the people
    tables, in ``people_schema`` (``people`` by default).
    """

    name: str
    kind: DestinationKind
    options: Mapping[str, JSON] = field(default_factory=dict)
    source: str | None = None
    delivery: DestinationPolicy = field(default_factory=DestinationPolicy)
    filters: EventFilter = field(default_factory=EventFilter)
    transform: str | None = None

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ConfigError(f"destination name {self.name!r} must be 1-64 of [A-Za-z0-9_.-]")
        if self.kind not in KINDS:
            raise ConfigError(f"destination kind {self.kind!r} is not one of {', '.join(KINDS)}")
        required = {
            "webhook": ("url", "secret"),
            "relay": ("url", "write_key"),
            "postgres": ("url",),
            "duckdb": ("path",),
        }
        for option in required[self.kind]:
            if not self.options.get(option):
                raise ConfigError(f"a {self.kind} destination needs the option {option!r}")

    @property
    def keeps_people(self) -> bool:
        """Whether this warehouse keeps the people tables (``profiles`` and ``identities``)."""
        return self.kind in ("postgres", "duckdb") and self.options.get("people") is True

    @property
    def people_schema(self) -> str:
        """The schema of the people tables (``people`` unless ``people_schema`` names another)."""
        return str(self.options.get("people_schema") or PEOPLE_SCHEMA)

    def accepts(self, event: StoredEvent) -> bool:
        """Whether this destination receives ``event``.

        Every destination follows its ``source`` and ``filters``. A warehouse then stores
        every event. A webhook also follows the event's ``integrations`` object, as downstream
        tools do in Segment and Customer.io. A relay skips only the events whose
        ``integrations`` turn its own name off (``{"segment": false}``): the rest of the object
        is for the receiving pipeline's destinations, and travels with the event.
        """
        if self.source is not None and event.source != self.source:
            return False
        if not self.filters.accepts(event.source, event.message):
            return False
        integrations = event.message.get("integrations")
        if self.kind == "webhook":
            return integration_enabled(integrations, self.name)
        if self.kind == "relay" and isinstance(integrations, Mapping):
            return integrations.get(self.name, True) is not False
        return True

    def to_json(self) -> JSONObject:
        """The settings as a JSON object (for the state database and the admin API)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "source": self.source,
            "options": dict(self.options),
            "delivery": {
                "max_attempts": self.delivery.max_attempts,
                "initial_backoff": self.delivery.initial_backoff,
                "max_backoff": self.delivery.max_backoff,
                "batch_size": self.delivery.batch_size,
                "jitter": self.delivery.jitter,
            },
            "filters": self.filters.to_json(),
            "transform": self.transform,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, JSON]) -> DestinationConfig:
        """The settings written by ``to_json``."""
        delivery = data.get("delivery") or {}
        return cls(
            name=data["name"],
            kind=data["kind"],
            source=data.get("source"),
            options=dict(data.get("options") or {}),
            delivery=DestinationPolicy(**delivery),
            filters=EventFilter.from_json(data.get("filters")),
            transform=data.get("transform"),
        )

    def redacted(self) -> JSONObject:
        """``to_json`` without secrets, for listings and the admin API."""
        shown = self.to_json()
        options = shown["options"]
        for option in _SECRET_OPTIONS:
            if option in options:
                options[option] = _HIDDEN
        if isinstance(options.get("url"), str):
            options["url"] = re.sub(r"//([^:/@]+):[^@/]*@", rf"//\1:{_HIDDEN}@", options["url"])
        return shown
