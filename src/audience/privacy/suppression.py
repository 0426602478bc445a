"""The suppression list at ingest: events carrying a suppressed identifier are dropped.

Each collector process keeps the list's digests in memory (:class:`SuppressionList`) and reads
them again whenever the store's change counter moves; a thread polls the counter every
``POLL_SECONDS``, so a suppression made by any process on the same database is applied by every
process within ``SUPPRESSION_BOUND_SECONDS``.

:class:`PrivacyGate` is the collector's ``IngestGate``. For each valid message it

- takes Customer.io's semantic events (``Delete Person``, ``Suppress Person``, ``Unsuppress
  Person``) as a request about the person the event identifies, and does not store the event;
- drops the message when one of its identifiers is suppressed; the other identifiers it carries
  (a browser's new anonymous id, say) are suppressed too from then on, under the same
  regulation: that message shows they are the same person's. An identifier never seen beside a
  suppressed one is not known to be theirs and is accepted.

What the gate learns is handed to a background thread (:meth:`PrivacyGate.take_requests`), as the
gate runs on the event loop and must not wait on the database.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from audience.identity.identifiers import Identifier, IdentifierType, clean_email, clean_id
from audience.privacy.regulations import (
    SEMANTIC_EVENTS,
    RegulationType,
    identifier_hash,
    message_identifiers,
)
from audience.storage.regulations import RegulationStore

logger = logging.getLogger(__name__)

POLL_SECONDS: Final = 0.25
"""How often each process reads the suppression list's change counter."""

SUPPRESSION_BOUND_SECONDS: Final = 1.0
"""A new suppression is applied by every process within this time (four polls)."""

DIGEST_CACHE: Final = 100_000
"""Digests each process remembers (about 20 MB at most)."""

SUPPRESSED: Final = "suppressed"
"""The drop reason of an event carrying a suppressed identifier."""

PRIVACY_REQUEST: Final = "privacy_request"
"""The drop reason counted for a semantic event, taken as a request and not stored."""


@dataclass(frozen=True)
class SemanticRequest:
    """A semantic event seen at ingest: ``type`` about the person ``identifier`` names."""

    type: RegulationType
    identifier: Identifier
    source: str


@dataclass(frozen=True)
class LinkedSuppression:
    """Digests seen beside a suppressed one, to be suppressed under the same regulation."""

    hashes: tuple[str, ...]
    seen_with: str


class SuppressionList:
    """This process's copy of the suppression list, kept fresh by a polling thread."""

    def __init__(self, store: RegulationStore, secret: bytes) -> None:
        self._store = store
        self.secret = secret
        self._digests: dict[tuple[str, str], str] = {}
        self._hashes: frozenset[str] = frozenset()
        self._changes = -1
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> bool:
        """Read the list again if it changed since the last read; ``True`` when it did."""
        changes = self._store.suppression_changes()
        if changes == self._changes:
            return False
        hashes = frozenset(self._store.suppressed_hashes())
        with self._lock:
            self._hashes, self._changes = hashes, changes
        return True

    def add_locally(self, hashes: Iterable[str]) -> None:
        """Apply digests at once in this process (the store has them, or is about to)."""
        with self._lock:
            self._hashes = self._hashes | frozenset(hashes)

    def hash(self, identifier: Identifier) -> str:
        """The digest of ``identifier`` in the list."""
        return identifier_hash(self.secret, identifier)

    def digest_of(self, kind: IdentifierType, raw: object) -> str | None:
        """The digest of the identifier a wire field carries (``None`` when it carries none),
        remembered for the values seen last: a visitor sends many events, and cleaning and
        hashing cost more than the rest of the screening."""
        if raw is None:
            return None
        key = (kind, raw) if isinstance(raw, str) else None
        if key is not None:
            known = self._digests.get(key)
            if known is not None:
                return known or None
        value = clean_email(raw) if kind == "email" else clean_id(raw)
        digest = identifier_hash(self.secret, Identifier(kind, value)) if value else ""
        if key is not None:
            if len(self._digests) >= DIGEST_CACHE:
                self._digests.clear()
            self._digests[key] = digest
        return digest or None

    @property
    def hashes(self) -> frozenset[str]:
        """Every suppressed digest this process knows of (a snapshot: the set is replaced, never
        changed in place)."""
        return self._hashes

    def contains(self, digest: str) -> bool:
        """Whether the digest is suppressed, as far as this process knows."""
        return digest in self._hashes

    @property
    def size(self) -> int:
        """How many digests are suppressed."""
        return len(self._hashes)

    async def start(self) -> None:
        """Read the list, then keep polling on a thread until ``stop``."""
        self.refresh()
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll, name="audience-suppressions")
        self._thread.daemon = True
        self._thread.start()

    async def stop(self) -> None:
        """Stop polling."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5)

    def _poll(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            try:
                self.refresh()
            except Exception:  # a database hiccup: keep the last list and try again
                logger.exception("reading the suppression list failed")


class PrivacyGate:
    """The ``IngestGate`` of the collector: suppression and semantic events."""

    def __init__(self, suppressions: SuppressionList) -> None:
        self._suppressions = suppressions
        self._lock = threading.Lock()
        self._requests: list[SemanticRequest | LinkedSuppression] = []
        self._pairs: dict[tuple[object, object], frozenset[str]] = {}
        self.wake = threading.Event()
        """Set when there is something for ``take_requests``."""

    def screen(self, source: str, message: Mapping[str, object]) -> str | None:
        """``None`` to store the message; else the reason it is not stored."""
        kind = message.get("type")
        if kind == "track" and message.get("event") in SEMANTIC_EVENTS:
            return self._semantic(source, SEMANTIC_EVENTS[str(message["event"])], message)
        suppressed = self._suppressions.hashes
        if not suppressed:
            return None
        digests = self._digests(message, kind)
        if suppressed.isdisjoint(digests):
            return None
        known = next(digest for digest in digests if digest in suppressed)
        fresh = tuple(digest for digest in digests if digest not in suppressed)
        if fresh:
            self._suppressions.add_locally(fresh)
            self._hand_over(LinkedSuppression(fresh, known))
        return SUPPRESSED

    def _digests(self, message: Mapping[str, object], kind: object) -> frozenset[str]:
        """The digests of the identifiers ``message`` carries (see ``message_identifiers``);
        those of its user and anonymous id remembered by the pair, which most messages repeat."""
        user_id, anonymous_id = message.get("userId"), message.get("anonymousId")
        pair = (user_id, anonymous_id)
        ids = self._pairs.get(pair)  # validated ids: strings, numbers or None, all hashable
        if ids is None:
            digest_of = self._suppressions.digest_of
            ids = frozenset(
                d
                for d in (digest_of("user_id", user_id), digest_of("anonymous_id", anonymous_id))
                if d
            )
            if len(self._pairs) >= DIGEST_CACHE:
                self._pairs.clear()
            self._pairs[pair] = ids
        extra = self._other_digests(message, kind)
        return ids | extra if extra else ids

    def _other_digests(self, message: Mapping[str, object], kind: object) -> set[str]:
        """Digests of an alias's previous id and of a traits email, which few messages carry."""
        digest_of = self._suppressions.digest_of
        found: set[str | None] = set()
        if kind == "alias":
            previous = message.get("previousId")
            found |= {digest_of("user_id", previous), digest_of("anonymous_id", previous)}
        traits = message.get("traits")
        if isinstance(traits, dict) and "email" in traits:
            found.add(digest_of("email", traits["email"]))
        context = message.get("context")
        if isinstance(context, dict):
            traits = context.get("traits")
            if isinstance(traits, dict) and "email" in traits:
                found.add(digest_of("email", traits["email"]))
        found.discard(None)
        return found  # type: ignore[return-value]

    def take_requests(self) -> list[SemanticRequest | LinkedSuppression]:
        """What the gate learned since the last call, oldest first."""
        with self._lock:
            taken, self._requests = self._requests, []
            self.wake.clear()
        return taken

    def _semantic(
        self, source: str, kind: RegulationType, message: Mapping[str, object]
    ) -> str | None:
        identifiers = [
            i for i in message_identifiers(message) if i.type in ("user_id", "anonymous_id")
        ]
        if not identifiers:
            return None  # it names no one: an ordinary event
        self._hand_over(SemanticRequest(kind, identifiers[0], source))
        return PRIVACY_REQUEST

    def _hand_over(self, request: SemanticRequest | LinkedSuppression) -> None:
        with self._lock:
            self._requests.append(request)
            self.wake.set()
