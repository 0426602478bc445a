"""The pure rules of regulations: what a request may say, the steps each type runs, the digests."""

from __future__ import annotations

import pytest

from audience.errors import ValidationError
from audience.identity.identifiers import Identifier
from audience.privacy.regulations import (
    MAX_SUBJECT_IDS,
    RegulationType,
    SubjectType,
    identifier_hash,
    parse_request,
    steps_for,
    subject_hash,
    subject_identifier,
)


def test_a_well_formed_request_is_cleaned_and_kept_in_order() -> None:
    request = parse_request(
        {
            "regulationType": "SUPPRESS_WITH_DELETE",
            "subjectType": "EMAIL",
            "subjectIds": [" Ada@Example.COM ", "bob@example.com", "ada@example.com"],
        }
    )
    assert request.type is RegulationType.SUPPRESS_WITH_DELETE
    assert request.subject_type is SubjectType.EMAIL
    assert request.subject_ids == ("ada@example.com", "bob@example.com")


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ([], "body", "is not a JSON object"),
        ({"subjectType": "USER_ID", "subjectIds": ["u"]}, "regulationType", "is missing"),
        (
            {"regulationType": "FORGET", "subjectType": "USER_ID", "subjectIds": ["u"]},
            "regulationType",
            "is not one of SUPPRESS, SUPPRESS_WITH_DELETE, DELETE_ONLY, UNSUPPRESS",
        ),
        (
            {"regulationType": "SUPPRESS", "subjectType": "PHONE", "subjectIds": ["u"]},
            "subjectType",
            "is not one of USER_ID, ANONYMOUS_ID, EMAIL, PROFILE_ID",
        ),
        ({"regulationType": "SUPPRESS", "subjectType": "USER_ID"}, "subjectIds", "is missing"),
        (
            {"regulationType": "SUPPRESS", "subjectType": "USER_ID", "subjectIds": "u"},
            "subjectIds",
            "is not an array",
        ),
        (
            {"regulationType": "SUPPRESS", "subjectType": "USER_ID", "subjectIds": []},
            "subjectIds",
            "is empty; name at least one subject",
        ),
        (
            {"regulationType": "SUPPRESS", "subjectType": "USER_ID", "subjectIds": ["u", 7]},
            "subjectIds[1]",
            "is not a string",
        ),
        (
            {"regulationType": "SUPPRESS", "subjectType": "USER_ID", "subjectIds": ["null"]},
            "subjectIds[0]",
            "is blank or a placeholder no one is known by",
        ),
        (
            {"regulationType": "SUPPRESS", "subjectType": "USER_ID", "subjectIds": ["a\nb"]},
            "subjectIds[0]",
            "contains control characters",
        ),
        (
            {"regulationType": "SUPPRESS", "subjectType": "EMAIL", "subjectIds": ["nobody"]},
            "subjectIds[0]",
            "is not an email address or a placeholder no one is known by",
        ),
        (
            {"regulationType": "SUPPRESS", "subjectType": "USER_ID", "subjectIds": ["u"], "x": 1},
            "x",
            "is not a field of a regulation request",
        ),
    ],
)
def test_a_bad_request_names_the_field_and_the_reason(
    body: object, field: str, reason: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        parse_request(body)
    assert (raised.value.field, raised.value.reason) == (field, reason)


def test_a_request_names_at_most_five_thousand_subjects() -> None:
    ids = [f"u{n}" for n in range(MAX_SUBJECT_IDS)]
    body = {"regulationType": "SUPPRESS", "subjectType": "USER_ID", "subjectIds": ids}
    assert len(parse_request(body).subject_ids) == MAX_SUBJECT_IDS
    with pytest.raises(ValidationError, match="has 5001 ids; the limit is 5000"):
        parse_request({**body, "subjectIds": [*ids, "one more"]})


def test_every_deleting_regulation_suppresses_the_person_while_it_deletes() -> None:
    """Events arriving during a deletion are dropped, so none outlives it."""
    assert steps_for(RegulationType.SUPPRESS_WITH_DELETE) == (
        "resolve",
        "suppress",
        "profiles",
        "events",
        "deliveries",
        "final_pass",
        "destinations",
    )
    assert steps_for(RegulationType.DELETE_ONLY)[-1] == "unsuppress"
    assert steps_for(RegulationType.SUPPRESS) == ("resolve", "suppress")
    assert steps_for(RegulationType.UNSUPPRESS) == ("resolve", "unsuppress")


def test_digests_depend_on_the_secret_and_never_show_the_value() -> None:
    one = subject_hash(b"secret-1", SubjectType.USER_ID, "ada")
    assert one == subject_hash(b"secret-1", SubjectType.USER_ID, "ada")
    assert one != subject_hash(b"secret-2", SubjectType.USER_ID, "ada")
    assert one != subject_hash(b"secret-1", SubjectType.ANONYMOUS_ID, "ada")
    assert "ada" not in one
    assert len(one) == 64
    assert identifier_hash(b"s", Identifier("user_id", "ada")) != identifier_hash(
        b"s", Identifier("anonymous_id", "ada")
    )


def test_a_profile_id_names_no_identifier() -> None:
    assert subject_identifier(SubjectType.EMAIL, "a@b.c") == Identifier("email", "a@b.c")
    assert subject_identifier(SubjectType.PROFILE_ID, "prof_1") is None
