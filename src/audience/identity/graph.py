"""The identity graph: what an event names and links, and how links form profiles.

The rule that makes profiles independent of arrival order:

* Every identify or alias event yields *links* between identifiers. A link carries the event's
  *order key* (timestamp, then receivedAt, then messageId), which depends on the event alone.
* Two user ids are the same person when an alias names one as the other's ``previousId``
  (a *person* is a class of user ids joined by aliases; a person is one profile).
* A profile is a connected component of the links, built by taking the links in order-key order and
  joining the two sides of each link unless both sides already belong to different people (merge
  protection). A refused link is kept and reported as a warning.
* Caps, functions of the set of links like everything above (:class:`Limits`): an anonymous id or
  email linked to more than ``shared_after`` user ids is *shared* and links nobody; and in a *unit*
  (anonymous ids and emails joined by email links) of more than ``unit_links`` distinct links, the
  email links do not join, so each of its identifiers is resolved by its own links to user ids.

* Operator actions (:class:`OperatorAction`) are inputs of the rule like events, each with an
  order key of its own: a ``merge`` is a link between the two profiles' anchors (two user ids
  become one person, as an alias makes them); a ``split`` of an identifier drops every link
  naming it whose order key is before the split's, so it leaves its profile with the events
  attributed to it (:func:`effective_links`).

Because the result is a function of the *set* of links and actions, any permutation of the same
events and actions gives the same profiles. :func:`resolve_components` states the rule over a
whole graph.

The stores apply it one *unit* at a time (:mod:`audience.resolution.linking`). A unit's anonymous
ids and emails are decided by the unit's own links alone: a person acts as one node whatever else
they hold, and an alias joining two people changes no decision, it only joins their profiles. So a
link that arrives out of order recomputes its unit, once per batch, never a cluster of people.
Without email linking a unit is one anonymous id and at most ``shared_after`` user ids; with it, at
most ``unit_links`` links, and a unit past that cap has each identifier decided from its own user
ids. Each event therefore costs O(K log K) with K <= ``unit_links`` (K <= ``shared_after`` without
email linking; the usual identify is O(1)), plus, when an alias joins two people or an email link
joins two units, relabelling the smaller side (each identifier is relabelled O(log n) times).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Final, Generic, Literal, TypeAlias, TypeVar

from audience.errors import ConfigError, ValidationError
from audience.identity.identifiers import Identifier, clean_email, clean_id
from audience.jsontypes import JSON, JSONObject
from audience.tracking import format_timestamp, parse_timestamp

LinkKind: TypeAlias = Literal["identify", "alias", "merge"]
ActionKind: TypeAlias = Literal["merge", "split"]
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


def previous_identifier(previous_id: str, anonymous_id: str | None) -> Identifier:
    """The type of an alias's ``previousId``, decided from the alias message alone.

    A ``previousId`` equal to the message's own ``anonymousId`` names that anonymous id (what a
    browser sends when a visitor who never identified is aliased); any other ``previousId`` is
    the user id the person had before (what a server sends when a user id changes). Reading the
    message alone keeps profiles a function of the set of events: the type never depends on what
    arrived before. A server aliasing an anonymous id sends it as both ``previousId`` and
    ``anonymousId``.
    """
    if previous_id == anonymous_id:
        return Identifier("anonymous_id", previous_id)
    return Identifier("user_id", previous_id)


def identity_of(message: JSONObject, *, link_email: bool = False) -> EventIdentity:
    """Read the identifiers, links, traits and group of one stored message.

    Identify links its anonymous id to its user id; alias links ``previousId`` to ``userId``,
    typed by :func:`previous_identifier` (an anonymous id when it is the message's own
    ``anonymousId``, else a user id). Other events only attach
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
    identify = kind == "identify"
    # Only an identify's traits count; other events skip copying them (and their context).
    traits = (
        _object(message.get("traits")) or _object(_object(message.get("context")).get("traits"))
        if identify
        else {}
    )
    email = None
    if link_email and identify:
        raw_email = traits.get("email") or _object(
            _object(message.get("context")).get("traits")
        ).get("email")
        value = clean_email(raw_email)
        email = Identifier("email", value) if value else None
    links: list[Link] = []
    identifiers: list[Identifier] = []
    for found in (user, anonymous, email):
        if found is not None:
            identifiers.append(found)
    attributed = user or anonymous or email
    if identify:
        if user and anonymous:
            links.append(Link(anonymous, user, "identify", key, message_id))
        if email and attributed and attributed != email:
            links.append(Link(email, attributed, "identify", key, message_id))
    elif kind == "alias" and user:
        previous_id = _read_id(message, "previousId", junk)
        if previous_id and previous_id != user_id:
            previous = previous_identifier(previous_id, anonymous_id)
            links.append(Link(previous, user, "alias", key, message_id))
            if previous not in identifiers:
                identifiers.append(previous)
    group_id = clean_id(message.get("groupId")) if kind == "group" else None
    return EventIdentity(
        order_key=key,
        timestamp=timestamp,
        identifier=attributed,
        identifiers=tuple(identifiers),
        links=tuple(links),
        junk=tuple(junk),
        traits=traits,
        group_id=group_id,
        group_traits=_object(message.get("traits")) if group_id else {},
    )


def is_user_alias(link: Link) -> bool:
    """An alias (or an operator's merge) between two user ids: it changes which user ids count
    as the same person."""
    return link.kind in ("alias", "merge") and link.a.type == "user_id" and link.b.type == "user_id"


EdgeKind: TypeAlias = Literal["alias", "claim", "email"]


def edge_kind(a: Identifier, b: Identifier) -> EdgeKind:
    """What a link between ``a`` and ``b`` can do.

    ``alias``: two user ids (they become one person); ``claim``: a user id and an anonymous id
    or email (the person claims it); ``email``: an anonymous id and an email, joined by an
    identify that carried an email but no user id.
    """
    users = (a.type == "user_id") + (b.type == "user_id")
    return "alias" if users == 2 else "claim" if users == 1 else "email"


DEFAULT_SHARED_AFTER: Final = 10
"""User ids an anonymous id or email may be linked to before it counts as shared."""

DEFAULT_UNIT_LINKS: Final = 1000
"""Distinct links a unit may hold before its email links stop joining."""


@dataclass(frozen=True)
class Limits:
    """The caps that keep every unit of work small; they are rules, so a store records them.

    ``shared_after``: an anonymous id or email linked to more than this many distinct user ids is
    shared (a family tablet, a shop's kiosk, a test account, a bot) and links nobody.
    ``unit_links``: a unit (anonymous ids and emails joined by email links) holding more than this
    many distinct links is too large to decide as one: its email links no longer join.
    ``weekly_anonymous_ids`` and ``weekly_emails`` (0: no limit), Segment's per-type limits: a
    user id claims at most this many anonymous ids (emails) whose first link to it falls in one
    week (Monday to Sunday, UTC, by the links' order keys, never by arrival). Past it, the
    event's lowest-priority identifier, the anonymous id (email), is not linked: the first ones
    of the week, by order key, are; the link is refused and listed as such (:func:`over_limit`).
    """

    shared_after: int = DEFAULT_SHARED_AFTER
    unit_links: int = DEFAULT_UNIT_LINKS
    weekly_anonymous_ids: int = 0
    weekly_emails: int = 0

    def __post_init__(self) -> None:
        for name in ("shared_after", "unit_links"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: must be at least 1, not {getattr(self, name)}")
        for name in ("weekly_anonymous_ids", "weekly_emails"):
            if getattr(self, name) < 0:
                raise ConfigError(
                    f"{name}: must be 0 (no limit) or more, not {getattr(self, name)}"
                )

    def weekly(self, kind: str) -> int:
        """How many identifiers of type ``kind`` one user id may claim in a week; 0: no limit."""
        if kind == "anonymous_id":
            return self.weekly_anonymous_ids
        return self.weekly_emails if kind == "email" else 0

    def is_shared(self, user_ids: int) -> bool:
        """Whether an identifier linked to ``user_ids`` distinct user ids is shared."""
        return user_ids > self.shared_after

    def is_split(self, links: int) -> bool:
        """Whether a unit of ``links`` distinct links no longer joins by email links."""
        return links > self.unit_links


Node = TypeVar("Node", bound=Hashable)


class Components(Generic[Node]):
    """Union-find whose components each belong to at most one person (merge protection).

    ``person(node)`` names the person a node belongs to on its own (a user id's person), or
    ``None``; a component belongs to the person of any of its nodes.
    """

    def __init__(self, person: Callable[[Node], Hashable | None]) -> None:
        self._person = person
        self._parent: dict[Node, Node] = {}
        self._size: dict[Node, int] = {}
        self._owner: dict[Node, Hashable | None] = {}

    def find(self, item: Node) -> Node:
        """The root of ``item``'s component (a component of its own when first seen)."""
        parent = self._parent
        if item not in parent:
            parent[item] = item
            self._size[item] = 1
            self._owner[item] = self._person(item)
            return item
        root = item
        while parent[root] != root:
            root = parent[root]
        while item != root:
            parent[item], item = root, parent[item]
        return root

    def owner(self, item: Node) -> Hashable | None:
        """The person ``item``'s component belongs to, if any."""
        return self._owner[self.find(item)]

    def join(self, a: Node, b: Node) -> LinkStatus:
        """Join the components of ``a`` and ``b`` unless they belong to different people."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return "redundant"
        pa, pb = self._owner[ra], self._owner[rb]
        if pa is not None and pb is not None and pa != pb:
            return "refused"
        if self._size[ra] < self._size[rb]:
            ra, rb = rb, ra
        self._parent[rb] = ra
        self._size[ra] += self._size[rb]
        self._owner[ra] = pa if pa is not None else pb
        return "joined"


def join_in_order(
    links: Iterable[tuple[str, Node, Node]], person: Callable[[Node], Hashable | None]
) -> Components[Node]:
    """Join ``(order, a, b)`` links in order under merge protection: the heart of the rule."""
    components: Components[Node] = Components(person)
    for _, a, b in sorted(links, key=lambda link: link[0]):
        components.join(a, b)
    return components


def person_classes(links: Iterable[Link]) -> dict[Identifier, Identifier]:
    """Each user id named by a user-to-user alias -> the best user id of its alias chain."""
    classes: Components[Identifier] = Components(lambda _: None)
    for link in links:
        if is_user_alias(link):
            classes.join(link.a, link.b)
    named = {i for link in links if is_user_alias(link) for i in (link.a, link.b)}
    best: dict[Identifier, Identifier] = {}
    for user in named:
        root = classes.find(user)
        if root not in best or user.rank < best[root].rank:
            best[root] = user
    return {user: best[classes.find(user)] for user in named}


@dataclass(frozen=True)
class Resolution:
    """Profiles of a graph: each identifier's component root, and each link's outcome."""

    roots: dict[Identifier, Identifier]
    statuses: tuple[LinkStatus, ...]
    shared: frozenset[Identifier] = frozenset()

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


def _free(identifier: Identifier) -> bool:
    return identifier.type != "user_id"


def week_of(order: str) -> tuple[str, str]:
    """The week an order key falls in, as the order keys that bound it: ``[Monday, next Monday)``.

    Order keys start with their UTC timestamp, so a week is a range of them.
    """
    try:
        day = date.fromisoformat(order[:10])
    except ValueError:
        day = date(1970, 1, 1)
    monday = day - timedelta(days=day.weekday())
    try:
        end = (monday + timedelta(days=7)).isoformat()
    except OverflowError:
        end = "9999-12-32"
    return monday.isoformat(), end


def over_limit(links: Sequence[Link], limits: Limits) -> set[frozenset[Identifier]]:
    """The claimed pairs a user id's weekly limit refuses.

    A pair (user id, anonymous id or email) counts in the week of its first link (the least
    :func:`link_order`); each user id's pairs of one type and week are taken in that order, and
    those past the limit are refused. Shared identifiers count too.
    """
    first: dict[frozenset[Identifier], tuple[str, Identifier, Identifier]] = {}
    for link in links:
        if edge_kind(link.a, link.b) != "claim":
            continue
        free, user = (link.a, link.b) if _free(link.a) else (link.b, link.a)
        if not limits.weekly(free.type):
            continue
        pair, order = frozenset((free, user)), link_order(link)
        if pair not in first or order < first[pair][0]:
            first[pair] = (order, free, user)
    weeks: dict[tuple[Identifier, str, str], list[tuple[str, frozenset[Identifier]]]] = {}
    for pair, (order, free, user) in first.items():
        weeks.setdefault((user, free.type, week_of(order)[0]), []).append((order, pair))
    refused: set[frozenset[Identifier]] = set()
    for (_, kind, _), claims in weeks.items():
        refused.update(pair for _, pair in sorted(claims)[limits.weekly(kind) :])
    return refused


def capped_links(links: Sequence[Link], limits: Limits) -> tuple[frozenset[Identifier], set[int]]:
    """The shared identifiers, and the indexes of the links the caps let join.

    Units are the components of every email link (shared identifiers included, so a unit is
    a function of the links alone); a unit's size is its number of distinct identifier pairs.
    """
    users_of: dict[Identifier, set[Identifier]] = {}
    units: Components[Identifier] = Components(lambda _: None)
    for link in links:
        kind = edge_kind(link.a, link.b)
        if kind == "claim":
            free, user = (link.a, link.b) if _free(link.a) else (link.b, link.a)
            users_of.setdefault(free, set()).add(user)
        elif kind == "email":
            units.join(link.a, link.b)
    shared = frozenset(x for x, users in users_of.items() if limits.is_shared(len(users)))
    pairs: dict[Identifier, set[frozenset[Identifier]]] = {}
    for link in links:
        if edge_kind(link.a, link.b) != "alias":
            free = link.a if _free(link.a) else link.b
            pairs.setdefault(units.find(free), set()).add(frozenset((link.a, link.b)))
    split = {unit for unit, held in pairs.items() if limits.is_split(len(held))}
    refused = over_limit(links, limits)
    allowed = set()
    for index, link in enumerate(links):
        if link.a in shared or link.b in shared:
            continue
        if frozenset((link.a, link.b)) in refused:
            continue
        if edge_kind(link.a, link.b) == "email" and units.find(link.a) in split:
            continue
        allowed.add(index)
    return shared, allowed


def link_statuses(
    links: Sequence[Link], roots: Mapping[Identifier, Identifier]
) -> tuple[LinkStatus, ...]:
    """Each link's outcome, read from the profiles: ``refused`` when its sides ended in different
    profiles, else ``joined`` for the first link of its pair of identifiers, ``redundant`` after."""
    first: dict[frozenset[Identifier], str] = {}
    for link in links:
        pair, order = frozenset((link.a, link.b)), link_order(link)
        if pair not in first or order < first[pair]:
            first[pair] = order
    return tuple(
        "refused"
        if roots[link.a] != roots[link.b]
        else "joined"
        if link_order(link) == first[frozenset((link.a, link.b))]
        else "redundant"
        for link in links
    )


@dataclass(frozen=True)
class OperatorAction:
    """An operator's correction of what the rules decided, recorded with who did it and why.

    ``merge``: ``a`` and ``b`` are the anchors of the two profiles when the merge was asked for;
    it is a link between them (:meth:`link`): two user ids become one person, whatever merge
    protection decided before (like PostHog's ``$merge_dangerously``); with an anonymous id or
    email on a side it links as an identify would. ``split``: ``a`` leaves its profile, with
    the events attributed to it: every link naming ``a`` whose order key is before the split's
    is dropped; links of later events join it again. ``order_key`` places the action among the
    events (the time it was recorded, then ``action_id``), so it depends on the action alone.
    """

    kind: ActionKind
    a: Identifier
    b: Identifier | None
    order_key: str
    action_id: str
    actor: str = ""
    reason: str = ""

    def __post_init__(self) -> None:
        if (self.kind == "merge") != (self.b is not None):
            raise ValidationError(".b", f"a {self.kind} names {'two' if self.b else 'one'} ids")

    @property
    def timestamp(self) -> str:
        """When the action was recorded (the first part of its order key)."""
        return self.order_key.split(_SEPARATOR, 1)[0]

    def link(self) -> Link:
        """The link a merge stands for."""
        if self.b is None:
            raise ValidationError(".b", "a split is no link")
        return Link(self.a, self.b, "merge", self.order_key, self.action_id)


def action_order_key(recorded_at: str, action_id: str) -> str:
    """The order key of an operator action recorded at ``recorded_at`` (a UTC timestamp)."""
    moment = _canonical_time(recorded_at) or _EPOCH
    return _SEPARATOR.join((moment, moment, action_id, "operator"))


def split_points(actions: Iterable[OperatorAction]) -> dict[Identifier, str]:
    """Each split identifier -> the order key of its latest split."""
    points: dict[Identifier, str] = {}
    for action in actions:
        if action.kind == "split" and action.order_key > points.get(action.a, ""):
            points[action.a] = action.order_key
    return points


def is_cut(link: Link, splits: Mapping[Identifier, str]) -> bool:
    """Whether a split drops ``link``: it names a split identifier and is older than the split."""
    return any(link.order_key < splits.get(side, "") for side in (link.a, link.b))


def effective_links(links: Iterable[Link], actions: Iterable[OperatorAction]) -> list[Link]:
    """The links the rule joins by: ``links`` and the merges' links, less those splits drop."""
    actions = tuple(actions)
    splits = split_points(actions)
    merged = (action.link() for action in actions if action.kind == "merge")
    return [link for link in (*links, *merged) if not is_cut(link, splits)]


def resolve_components(
    identifiers: Iterable[Identifier],
    links: Sequence[Link],
    limits: Limits | None = None,
    actions: Iterable[OperatorAction] = (),
) -> Resolution:
    """The rule over a whole graph: profiles from links and operator actions under merge
    protection and the caps.

    The order of ``links`` and ``actions`` does not matter. This is the definition the stores
    implement one unit at a time; ``statuses[i]`` tells what became of ``links[i]``.
    """
    actions = tuple(actions)
    given = links
    links = effective_links(links, actions)
    classes = person_classes(links)
    shared, allowed = capped_links(links, limits or Limits())
    components: Components[Identifier] = join_in_order(
        ((link_order(links[i]), links[i].a, links[i].b) for i in allowed),
        lambda i: classes.get(i, i) if i.type == "user_id" else None,
    )
    everyone = {*identifiers, *(i for link in (*given, *links) for i in (link.a, link.b))}
    roots = {identifier: components.find(identifier) for identifier in everyone}
    return Resolution(roots, link_statuses(given, roots), shared)
