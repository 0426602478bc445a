"""Regulations, the pure rules: what may be asked, how a request body is judged, which steps a
regulation runs, and the keyed hash that keeps personal values out of the audit.

A *regulation* is one request about one or more people, each named by a *subject id* of a
*subject type*. It runs a fixed list of steps (:func:`steps_for`), each recorded with its
progress, and ends ``FINISHED`` or ``FAILED``. The audit keeps only HMAC-SHA256 digests of the
subject ids (:func:`subject_hash`), keyed with a secret of the installation, so a reader of the
database cannot tell whom a request was about unless they already know the value and the secret.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Final, TypeVar

from audience.errors import ValidationError
from audience.identity.identifiers import Identifier, IdentifierType, clean_email, clean_id

_Choice = TypeVar("_Choice", bound=StrEnum)

MAX_SUBJECT_IDS: Final = 5000
"""The most subject ids one request may name."""

MAX_SUBJECT_ID_CHARS: Final = 400
"""Longer subject ids are refused: no identifier the collector keeps is longer."""


class RegulationType(StrEnum):
    """What a regulation does to the people it names."""

    SUPPRESS = "SUPPRESS"
    """Drop their future events at ingest; keep what is stored."""
    SUPPRESS_WITH_DELETE = "SUPPRESS_WITH_DELETE"
    """Drop their future events and delete everything stored about them."""
    DELETE_ONLY = "DELETE_ONLY"
    """Delete everything stored about them; accept their future events."""
    UNSUPPRESS = "UNSUPPRESS"
    """Accept their events again."""


class SubjectType(StrEnum):
    """How a subject id names a person."""

    USER_ID = "USER_ID"
    ANONYMOUS_ID = "ANONYMOUS_ID"
    EMAIL = "EMAIL"
    PROFILE_ID = "PROFILE_ID"


class Status(StrEnum):
    """Where a regulation stands."""

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"


class RequesterKind(StrEnum):
    """Who asked for a regulation."""

    ADMIN_TOKEN = "admin_token"  # noqa: S105 (a kind of credential, not one)
    SESSION = "session"
    CLI = "cli"
    SEMANTIC_EVENT = "semantic_event"


SUBJECT_IDENTIFIERS: Final[dict[SubjectType, IdentifierType]] = {
    SubjectType.USER_ID: "user_id",
    SubjectType.ANONYMOUS_ID: "anonymous_id",
    SubjectType.EMAIL: "email",
}
"""The identifier type each subject type names (a profile id names a profile, not an
identifier)."""

DELETE_STEPS: Final = ("profiles", "events", "deliveries", "final_pass", "destinations")
"""The steps that delete a person, in order: their profile (which names the positions of their
events), their events, their events in the destinations' batches, all of it once more for what
arrived while the suppression reached every process, then their rows in every warehouse and a
deletion notice to every webhook."""

SEMANTIC_EVENTS: Final[dict[str, RegulationType]] = {
    "Delete Person": RegulationType.SUPPRESS_WITH_DELETE,
    "Suppress Person": RegulationType.SUPPRESS,
    "Unsuppress Person": RegulationType.UNSUPPRESS,
}
"""Customer.io's semantic ``track`` events and the regulation each asks for, about the person
the event identifies."""


def steps_for(kind: RegulationType) -> tuple[str, ...]:
    """The steps a regulation of ``kind`` runs, in order.

    Every deleting regulation suppresses the person first, so that no event of theirs is
    accepted while their data is deleted; ``DELETE_ONLY`` lifts that suppression at the end.
    """
    if kind is RegulationType.SUPPRESS:
        return ("resolve", "suppress")
    if kind is RegulationType.UNSUPPRESS:
        return ("resolve", "unsuppress")
    if kind is RegulationType.SUPPRESS_WITH_DELETE:
        return ("resolve", "suppress", *DELETE_STEPS)
    return ("resolve", "suppress", *DELETE_STEPS, "unsuppress")


@dataclass(frozen=True)
class Requester:
    """Who asked: the kind of credential and where it came from (a source name, a host...)."""

    kind: RequesterKind
    source: str = ""


@dataclass(frozen=True)
class RegulationRequest:
    """A judged request: its type, subject type and the cleaned subject ids, in given order."""

    type: RegulationType
    subject_type: SubjectType
    subject_ids: tuple[str, ...]


@dataclass(frozen=True)
class Step:
    """One step of a regulation: ``pending``, ``done`` or ``failed``, how many rows it removed
    (or identifiers it touched), and for the ``destinations`` step the count of each one."""

    name: str
    state: str = "pending"
    count: int = 0
    detail: tuple[tuple[str, int], ...] = ()

    def to_json(self) -> dict[str, object]:
        """The wire form of the step."""
        shown: dict[str, object] = {"name": self.name, "state": self.state, "count": self.count}
        if self.detail:
            shown["detail"] = dict(self.detail)
        return shown


@dataclass(frozen=True)
class Regulation:
    """A regulation as the audit keeps it: never a personal value, only their digests."""

    id: str
    type: RegulationType
    subject_type: SubjectType
    subject_hashes: tuple[str, ...]
    requester: Requester
    requested_at: str
    status: Status = Status.RUNNING
    steps: tuple[Step, ...] = field(default_factory=tuple)
    finished_at: str | None = None
    error: str | None = None

    def next_step(self) -> Step | None:
        """The first step not done yet, or ``None`` when all are."""
        return next((step for step in self.steps if step.state != "done"), None)

    def with_step(
        self, name: str, state: str, count: int, detail: Mapping[str, int] | None = None
    ) -> Regulation:
        """This regulation with step ``name`` set to ``state``, ``count`` and ``detail``."""
        done = Step(name, state, count, tuple(sorted((detail or {}).items())))
        steps = tuple(done if step.name == name else step for step in self.steps)
        return replace(self, steps=steps)

    def to_json(self) -> dict[str, object]:
        """The wire form of the regulation (``GET /api/regulations/{id}``)."""
        return {
            "id": self.id,
            "regulationType": self.type.value,
            "subjectType": self.subject_type.value,
            "subjectCount": len(self.subject_hashes),
            "subjectHashes": list(self.subject_hashes),
            "requestedBy": {"kind": self.requester.kind.value, "source": self.requester.source},
            "requestedAt": self.requested_at,
            "status": self.status.value,
            "progress": [step.to_json() for step in self.steps],
            "finishedAt": self.finished_at,
            "error": self.error,
        }


def parse_request(body: object) -> RegulationRequest:
    """Judge ``{"regulationType", "subjectType", "subjectIds": [...]}``.

    Raises ``ValidationError`` naming the first bad field and the reason.
    """
    if not isinstance(body, dict):
        raise ValidationError("body", "is not a JSON object")
    unknown = sorted(set(body) - {"regulationType", "subjectType", "subjectIds"})
    if unknown:
        raise ValidationError(unknown[0], "is not a field of a regulation request")
    kind = _choice(body.get("regulationType"), "regulationType", RegulationType)
    subject_type = _choice(body.get("subjectType"), "subjectType", SubjectType)
    ids = body.get("subjectIds")
    if not isinstance(ids, list):
        raise ValidationError("subjectIds", "is missing" if ids is None else "is not an array")
    return RegulationRequest(kind, subject_type, clean_subject_ids(ids, subject_type))


def clean_subject_ids(ids: Sequence[object], subject_type: SubjectType) -> tuple[str, ...]:
    """Each subject id cleaned (trimmed; emails lower-cased), duplicates left out.

    Raises ``ValidationError`` on an empty list, more than ``MAX_SUBJECT_IDS``, or an id that
    is not a usable identifier of ``subject_type``.
    """
    if not ids:
        raise ValidationError("subjectIds", "is empty; name at least one subject")
    if len(ids) > MAX_SUBJECT_IDS:
        raise ValidationError("subjectIds", f"has {len(ids)} ids; the limit is {MAX_SUBJECT_IDS}")
    cleaned: dict[str, None] = {}
    for index, raw in enumerate(ids):
        cleaned[clean_subject_id(raw, subject_type, f"subjectIds[{index}]")] = None
    return tuple(cleaned)


def clean_subject_id(raw: object, subject_type: SubjectType, field_name: str) -> str:
    """One subject id cleaned, or ``ValidationError`` naming ``field_name`` and the reason."""
    if not isinstance(raw, str):
        raise ValidationError(field_name, "is not a string")
    if len(raw) > MAX_SUBJECT_ID_CHARS:
        raise ValidationError(field_name, f"is longer than {MAX_SUBJECT_ID_CHARS} characters")
    if any(ord(character) < 32 or ord(character) == 127 for character in raw):
        raise ValidationError(field_name, "contains control characters")
    value = clean_email(raw) if subject_type is SubjectType.EMAIL else clean_id(raw)
    if value is None:
        reason = "is not an email address" if subject_type is SubjectType.EMAIL else "is blank"
        raise ValidationError(field_name, f"{reason} or a placeholder no one is known by")
    return value


def subject_identifier(subject_type: SubjectType, value: str) -> Identifier | None:
    """The identifier a subject id names; ``None`` for a profile id."""
    identifier_type = SUBJECT_IDENTIFIERS.get(subject_type)
    return Identifier(identifier_type, value) if identifier_type is not None else None


def message_identifiers(message: Mapping[str, object]) -> list[Identifier]:
    """The identifiers one incoming message carries: its user id, anonymous id, an alias's
    previous id, and the email of its traits (or its context's traits)."""
    found: list[Identifier] = []
    for name, kind in (("userId", "user_id"), ("anonymousId", "anonymous_id")):
        value = clean_id(message.get(name))
        if value is not None:
            found.append(Identifier(kind, value))  # type: ignore[arg-type]
    if message.get("type") == "alias":
        previous = clean_id(message.get("previousId"))
        if previous is not None:  # the previous id may be either kind
            found.extend((Identifier("user_id", previous), Identifier("anonymous_id", previous)))
    for traits in (message.get("traits"), _field(message.get("context"), "traits")):
        email = clean_email(_field(traits, "email"))
        if email is not None:
            found.append(Identifier("email", email))
    return found


def _field(value: object, name: str) -> object:
    return value.get(name) if isinstance(value, dict) else None


def subject_hash(secret: bytes, subject_type: SubjectType, value: str) -> str:
    """The audit's digest of one subject id: HMAC-SHA256 keyed with the installation's secret."""
    return _digest(secret, f"subject\x1f{subject_type.value}\x1f{value}")


def identifier_hash(secret: bytes, identifier: Identifier) -> str:
    """The suppression list's digest of one identifier, keyed with the installation's secret."""
    return _digest(secret, f"identifier\x1f{identifier.type}\x1f{identifier.value}")


def _digest(secret: bytes, text: str) -> str:
    return hmac.new(secret, text.encode(), hashlib.sha256).hexdigest()


def _choice(value: object, field_name: str, choices: type[_Choice]) -> _Choice:
    if value is None:
        raise ValidationError(field_name, "is missing")
    allowed = [choice.value for choice in choices]
    if not isinstance(value, str) or value not in allowed:
        raise ValidationError(field_name, f"is not one of {', '.join(allowed)}")
    return choices(value)
