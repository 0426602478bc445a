"""The identity graph: what an event names and links, and how links form profiles.

The rule that makes profiles independent of arrival order:

* Every identify or alias event yields *links* between identifiers. A link carries the event's
  *order key* (timestamp, then receivedAt, then messageId), which depends on the event alone.
* A profile is a connected component of the links, built by taking the links in order-key order and
  joining the two sides of each link unless both sides already hold a user id and those user ids
  are not the same person (merge protection). A refused link is kept and reported as a warning.
* Two user ids are the same person only when an alias names one as the other's ``previousId``.

Because the result is a function of the *set* of links, any permutation of the same events gives
the same profiles. The store applies a new link directly when the result cannot depend on order
(its cluster holds at most one user id, or the link is the newest in its cluster) and otherwise
recomputes the cluster the link touches with :func:`resolve_components`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, TypeAlias

from audience.errors import ValidationError
from audience.jsontypes import JSON, JSONObject
from audience.resolution.identifiers import Identifier, clean_email, clean_id
from audience.tracking import format_timestamp, parse_timestamp

LinkKind: TypeAlias = Literal["identify", "alias"]
LinkStatus: TypeAlias = Literal["joined", "redundant", "refused"]

_SEPARATOR: Final = "\x1f"
_EPOCH: Final = "1970-01-01T00:00:00.000Z"


_CANONICAL: Final = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
"""A timestamp already in the one form keys use (``format_timestamp``: UTC, milliseconds, ``Z``);
such strings sort in time order, so they are used as they are."""


def _canonical_time(raw: JSON) -> str | None:
    """``raw`` as a UTC millisecond timestamp string, or ``None`` when it is not a timestamp."""
    if not isinstance(raw, str):
        return None
    if _CANONICAL.match(raw):
        return raw
    try:
        return format_timestamp(parse_timestamp(raw))
    except ValidationError:
        return None


@dataclass(frozen=True)
class JunkId:
    """A wire field whose value was refused as an identifier."""

    field: str
    value: str


@dataclass(frozen=True)
class Link:
    """An event's statement that two identifiers name the same person."""

    a: Identifier
    b: Identifier
    kind: LinkKind
    order_key: str
    message_id: str


@dataclass(frozen=True)
class EventIdentity:
    """What resolution needs from one event.

    ``identifier`` is the one the event is attributed to (user id, else anonymous id, else email);
    ``None`` when the event names nobody usable. ``links`` are the joins it asks for.
    """

    order_key: str
    timestamp: str
    identifier: Identifier | None
    identifiers: tuple[Identifier, ...]
    links: tuple[Link, ...]
    junk: tuple[JunkId, ...]
    traits: JSONObject = field(default_factory=dict)
    group_id: str | None = None
    group_traits: JSONObject = field(default_factory=dict)


def order_key(message: JSONObject) -> tuple[str, str]:
    """The event's place in time, as ``(sortable key, timestamp)``.

    Ordered by ``timestamp``, then ``receivedAt``, then ``messageId`` and ``type``: all fields of
    the event itself, so the key never depends on when the event arrived.
    """
    received = _canonical_time(message.get("receivedAt"))
    moment = _canonical_time(message.get("timestamp")) or received or _EPOCH
    parts = (
        moment,
        received or moment,
        str(message.get("messageId") or ""),
        str(message.get("type") or ""),
    )
    return _SEPARATOR.join(parts), moment


def _object(raw: JSON) -> JSONObject:
    return dict(raw) if isinstance(raw, dict) else {}


def _read_id(message: JSONObject, wire: str, junk: list[JunkId]) -> str | None:
    raw = message.get(wire)
    value = clean_id(raw)
    if value is None and raw is not None and not (isinstance(raw, str) and raw == ""):
        junk.append(JunkId(wire, str(raw)[:200]))
    return value


def identity_of(message: JSONObject, *, link_email: bool = False) -> EventIdentity:
    """Read the identifiers, links, traits and group of one stored message.

    Identify links its anonymous id to its user id; alias links ``previousId`` (as both a user id
    and an anonymous id, since clients use it for either) to ``userId``. Other events only attach
    to the profile of their best identifier, as Customer.io does: a track carrying both ids counts
    for the user id. With ``link_email`` an identify's ``traits.email``
    (or ``context.traits.email``) is an identifier too.
    """
    key, timestamp = order_key(message)
    message_id = str(message.get("messageId") or "")
    kind = message.get("type")
    junk: list[JunkId] = []
    user_id = _read_id(message, "userId", junk)
    anonymous_id = _read_id(message, "anonymousId", junk)
    user = Identifier("user_id", user_id) if user_id else None
    anonymous = Identifier("anonymous_id", anonymous_id) if anonymous_id else None
    traits = _object(message.get("traits")) or _object(
        _object(message.get("context")).get("traits")
    )
    email = None
    if link_email and kind == "identify":
        raw_email = traits.get("email") or _object(
            _object(message.get("context")).get("traits")
        ).get("email")
        value = clean_email(raw_email)
        email = Identifier("email", value) if value else None
    links: list[Link] = []
    identifiers = [i for i in (user, anonymous, email) if i is not None]
    attributed = user or anonymous or email
    if kind == "identify":
        if user and anonymous:
            links.append(Link(anonymous, user, "identify", key, message_id))
        if email and attributed and attributed != email:
            links.append(Link(email, attributed, "identify", key, message_id))
    elif kind == "alias" and user:
        previous_id = _read_id(message, "previousId", junk)
        if previous_id and previous_id != user_id:
            for previous in (
                Identifier("user_id", previous_id),
                Identifier("anonymous_id", previous_id),
            ):
                links.append(Link(previous, user, "alias", key, message_id))
                identifiers.append(previous)
    group_id = clean_id(message.get("groupId")) if kind == "group" else None
    return EventIdentity(
        order_key=key,
        timestamp=timestamp,
        identifier=attributed,
        identifiers=tuple(dict.fromkeys(identifiers)),
        links=tuple(links),
        junk=tuple(junk),
        traits=traits if kind == "identify" else {},
        group_id=group_id,
        group_traits=_object(message.get("traits")) if group_id else {},
    )


def is_user_alias(link: Link) -> bool:
    """An alias between two user ids: it changes which user ids count as the same person."""
    return link.kind == "alias" and link.a.type == "user_id" and link.b.type == "user_id"


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[Identifier, Identifier] = {}

    def find(self, item: Identifier) -> Identifier:
        root = self.parent.setdefault(item, item)
        while root != self.parent[root]:
            root = self.parent[root]
        while item != root:
            self.parent[item], item = root, self.parent[item]
        return root

    def union(self, a: Identifier, b: Identifier) -> Identifier:
        ra, rb = self.find(a), self.find(b)
        winner, loser = (ra, rb) if ra.rank <= rb.rank else (rb, ra)
        self.parent[loser] = winner
        return winner


def person_classes(links: Iterable[Link]) -> dict[Identifier, Identifier]:
    """Each user id named by a user-to-user alias -> the best user id of its alias chain."""
    classes = _UnionFind()
    for link in links:
        if is_user_alias(link):
            classes.union(link.a, link.b)
    return {user: classes.find(user) for user in list(classes.parent)}


@dataclass(frozen=True)
class Resolution:
    """Profiles of one cluster: each identifier's component root, and each link's outcome."""

    roots: dict[Identifier, Identifier]
    statuses: tuple[LinkStatus, ...]

    def components(self) -> list[frozenset[Identifier]]:
        """The identifier sets, one per profile."""
        groups: dict[Identifier, set[Identifier]] = {}
        for identifier, root in self.roots.items():
            groups.setdefault(root, set()).add(identifier)
        return [frozenset(members) for members in groups.values()]


def link_order(link: Link) -> str:
    """Total order over links: the event's order key, then the identifiers themselves."""
    return _SEPARATOR.join(
        (link.order_key, link.a.type, link.a.value, link.b.type, link.b.value, link.kind)
    )


def resolve_components(identifiers: Iterable[Identifier], links: Sequence[Link]) -> Resolution:
    """Build profiles from links under merge protection; the order of ``links`` does not matter.

    ``statuses[i]`` tells what became of ``links[i]``: it joined two profiles, it was redundant,
    or it was refused because both sides held user ids of different people.
    """
    classes = person_classes(links)
    profiles = _UnionFind()
    person: dict[Identifier, Identifier] = {}
    everyone = {*identifiers, *(i for link in links for i in (link.a, link.b))}
    for identifier in everyone:
        profiles.find(identifier)
        if identifier.type == "user_id":
            person[identifier] = classes.get(identifier, identifier)
    statuses: dict[int, LinkStatus] = {}
    for index in sorted(range(len(links)), key=lambda i: link_order(links[i])):
        link = links[index]
        ra, rb = profiles.find(link.a), profiles.find(link.b)
        if ra == rb:
            statuses[index] = "redundant"
            continue
        pa, pb = person.get(ra), person.get(rb)
        if pa is not None and pb is not None and pa != pb:
            statuses[index] = "refused"
            continue
        root = profiles.union(ra, rb)
        owner = pa or pb
        if owner is not None:
            person[root] = owner
        statuses[index] = "joined"
    roots = {identifier: profiles.find(identifier) for identifier in everyone}
    return Resolution(roots, tuple(statuses[i] for i in range(len(links))))


def decide(
    link: Link, person_a: str | None, person_b: str | None, same_profile: bool
) -> LinkStatus:
    """The outcome of applying ``link`` as the newest link of its cluster.

    ``person_a``/``person_b`` name the person (alias-chain class) each side's profile belongs to,
    ``None`` for a profile without a user id.
    """
    if same_profile:
        return "redundant"
    if person_a is not None and person_b is not None and person_a != person_b:
        return "refused"
    return "joined"


def needs_recompute(link: Link, cluster_user_ids: int, cluster_newest_key: str | None) -> bool:
    """Whether ``link`` can change earlier decisions in its cluster, so the cluster must be rebuilt.

    Never when the merged cluster holds at most one user id (nothing can be refused there); always
    for a user-to-user alias (it changes who counts as one person); otherwise only when the link is
    older than a link already applied.
    """
    if cluster_user_ids <= 1:
        return False
    if is_user_alias(link):
        return True
    return cluster_newest_key is not None and link_order(link) < cluster_newest_key
