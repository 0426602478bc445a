"""The ingest gate: which messages a suppression drops, what it learns from them, and the
semantic events it takes as requests."""

from __future__ import annotations

from pathlib import Path

import pytest

from audience.identity.identifiers import Identifier
from audience.privacy.regulations import RegulationType
from audience.privacy.suppression import (
    PRIVACY_REQUEST,
    SUPPRESSED,
    LinkedSuppression,
    PrivacyGate,
    SemanticRequest,
    SuppressionList,
)
from audience.storage.sqlite_events import SqliteEventStore


@pytest.fixture
def gate(tmp_path: Path) -> PrivacyGate:
    store = SqliteEventStore.open(tmp_path / "events.sqlite3")
    suppressions = SuppressionList(store, b"s" * 32)
    store.add_suppressions(
        [
            suppressions.hash(Identifier("user_id", "ada")),
            suppressions.hash(Identifier("email", "ada@example.com")),
        ],
        "reg_1",
        "t",
    )
    suppressions.refresh()
    store.close()
    return PrivacyGate(suppressions)


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ({"type": "track", "event": "x", "userId": " ada "}, SUPPRESSED),
        ({"type": "track", "event": "x", "userId": "bob"}, None),
        (
            {"type": "identify", "anonymousId": "a-9", "traits": {"email": "ADA@example.com"}},
            SUPPRESSED,
        ),
        (
            {
                "type": "page",
                "anonymousId": "a-9",
                "context": {"traits": {"email": "ada@example.com"}},
            },
            SUPPRESSED,
        ),
        ({"type": "alias", "userId": "new-id", "previousId": "ada"}, SUPPRESSED),
        ({"type": "track", "event": "x", "anonymousId": "a-1"}, None),
        ({"type": "track", "event": "Delete Person", "userId": "bob"}, PRIVACY_REQUEST),
        ({"type": "track", "event": "Delete Person"}, None),
    ],
)
def test_the_gate_drops_messages_carrying_a_suppressed_identifier(
    gate: PrivacyGate, message: dict[str, object], reason: str | None
) -> None:
    assert gate.screen("web", message) == reason


def test_an_identifier_seen_beside_a_suppressed_one_is_suppressed_from_then_on(
    gate: PrivacyGate,
) -> None:
    assert gate.screen("web", {"type": "page", "anonymousId": "fresh"}) is None
    identify = {"type": "identify", "anonymousId": "fresh", "userId": "ada"}
    assert gate.screen("web", identify) == SUPPRESSED
    assert gate.screen("web", {"type": "page", "anonymousId": "fresh"}) == SUPPRESSED
    (learned,) = gate.take_requests()
    assert isinstance(learned, LinkedSuppression)
    assert len(learned.hashes) == 1
    assert gate.take_requests() == []


def test_a_semantic_event_asks_about_the_person_of_its_user_id(gate: PrivacyGate) -> None:
    message = {"type": "track", "event": "Suppress Person", "userId": "bob", "anonymousId": "b"}
    assert gate.screen("shop", message) == PRIVACY_REQUEST
    assert gate.take_requests() == [
        SemanticRequest(RegulationType.SUPPRESS, Identifier("user_id", "bob"), "shop")
    ]
