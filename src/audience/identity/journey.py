"""A person's journey: their events cut into phases (anonymous, the identify that joined them,
identified, and the next anonymous id after they logged out), ready to draw as a timeline."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, TypeAlias

from audience.identity.identifiers import clean_id
from audience.identity.profiles import LinkedEvent
from audience.jsontypes import JSONObject

PhaseKind: TypeAlias = Literal["anonymous", "identify", "identified", "after_logout"]

MAX_SUMMARY: Final = 120


@dataclass(frozen=True)
class JourneyEvent:
    """One event on the timeline: what it was, when, who it was linked by, and its full JSON."""

    seq: int
    timestamp: str
    type: str
    title: str
    linked_by: str
    details: str


@dataclass(frozen=True)
class Phase:
    """A run of consecutive events under one identity (or the identify that changed it)."""

    kind: PhaseKind
    label: str
    events: list[JourneyEvent] = field(default_factory=list)

    @property
    def start(self) -> str:
        """The first event's timestamp."""
        return self.events[0].timestamp if self.events else ""

    @property
    def end(self) -> str:
        """The last event's timestamp."""
        return self.events[-1].timestamp if self.events else ""


def title_of(message: JSONObject) -> str:
    """A short human title: the event name, the page name or path, or the call type."""
    kind = str(message.get("type") or "event")
    raw_properties = message.get("properties")
    properties = raw_properties if isinstance(raw_properties, dict) else {}
    candidates = {
        "track": message.get("event"),
        "page": message.get("name") or properties.get("path") or properties.get("url"),
        "screen": message.get("name"),
        "group": message.get("groupId"),
        "identify": message.get("userId") or message.get("anonymousId"),
        "alias": message.get("previousId"),
    }
    detail = candidates.get(kind)
    text = f"{kind}: {detail}" if detail not in (None, "") else kind
    return text if len(text) <= MAX_SUMMARY else text[: MAX_SUMMARY - 1] + "…"


def _journey_event(linked: LinkedEvent, message: JSONObject) -> JourneyEvent:
    return JourneyEvent(
        seq=linked.seq,
        timestamp=linked.timestamp,
        type=str(message.get("type") or ""),
        title=title_of(message),
        linked_by=f"{linked.identifier.type} {linked.identifier.value}",
        details=json.dumps(message, indent=2, sort_keys=True, ensure_ascii=False, default=str),
    )


def _phase_of(linked: LinkedEvent, message: JSONObject) -> tuple[PhaseKind, str]:
    user_id = clean_id(message.get("userId"))
    anonymous_id = clean_id(message.get("anonymousId"))
    if message.get("type") == "identify" and user_id:
        return "identify", user_id
    if message.get("type") == "alias" and user_id:
        return "identify", user_id
    if user_id:
        return "identified", user_id
    return "anonymous", anonymous_id or linked.identifier.value


def build_journey(events: Iterable[tuple[LinkedEvent, JSONObject]]) -> list[Phase]:
    """Cut time-ordered events into phases; consecutive events of one identity share a phase.

    An identify (or alias) carrying a user id is a phase of its own: the moment the anonymous
    activity before it joined the person.
    """
    phases: list[Phase] = []
    for linked, message in events:
        kind, label = _phase_of(linked, message)
        current = phases[-1] if phases else None
        if current is None or kind == "identify" or (current.kind, current.label) != (kind, label):
            phases.append(Phase(kind, label))
        phases[-1].events.append(_journey_event(linked, message))
    return phases


def _device(message: JSONObject) -> tuple[str, str] | None:
    context = message.get("context")
    if not isinstance(context, dict):
        return None
    agent, ip = context.get("userAgent"), context.get("ip")
    if not isinstance(agent, str) or not isinstance(ip, str):
        return None
    return agent, ip


def next_anonymous_id(
    last_message: JSONObject, known_ids: set[str], later: Sequence[JSONObject]
) -> str | None:
    """The anonymous id the same browser used next, once the person logged out.

    After ``reset()`` nothing links the new anonymous id to the person, and resolution keeps it
    in a profile of its own. For the journey picture only, this finds the first later event from
    the same browser (same user agent and IP) that is anonymous and carries an id the person
    never used. It is a hint to follow, never a merge.
    """
    device = _device(last_message)
    if device is None:
        return None
    for message in later:
        anonymous_id = clean_id(message.get("anonymousId"))
        if (
            anonymous_id
            and anonymous_id not in known_ids
            and clean_id(message.get("userId")) is None
            and _device(message) == device
        ):
            return anonymous_id
    return None
