"""The profile page's merge and split forms, over HTTP against the served application."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from audience.http.admin_guard import SESSION_COOKIE
from support.served_app import ADMIN_TOKEN, ServedApp, serve_app


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServedApp]:
    with serve_app(tmp_path / "data") as running:
        running.send(
            {"type": "identify", "anonymousId": "tablet", "userId": "alice",
             "timestamp": "2026-11-29T10:00:00Z"},
            {"type": "identify", "anonymousId": "tablet", "userId": "bob",
             "timestamp": "2026-11-29T10:01:00Z"},
        )  # fmt: skip
        running.resolved()
        yield running


@pytest.fixture
def browser(served: ServedApp) -> Iterator[httpx.Client]:
    """A client logged in with a session cookie, as the admin's browser is."""
    with httpx.Client(base_url=served.url, timeout=30) as client:
        login = client.post("/login", data={"token": ADMIN_TOKEN, "next": "/"})
        assert login.status_code == 303, login.text
        assert SESSION_COOKIE in client.cookies
        yield client


def profile_id(served: ServedApp, **identifier: str) -> str:
    profile = served.admin.profile(**identifier)
    assert profile is not None
    return str(profile["id"])


def test_the_profile_page_offers_merge_and_split_forms(
    served: ServedApp, browser: httpx.Client
) -> None:
    page = browser.get(f"/profiles/{profile_id(served, userId='alice')}")
    assert page.status_code == 200
    assert 'class="merge-form"' in page.text
    assert '<option value="anonymous_id:tablet">' in page.text


def test_the_merge_form_joins_the_profiles_and_shows_the_merged_one(
    served: ServedApp, browser: httpx.Client
) -> None:
    alice, bob = profile_id(served, userId="alice"), profile_id(served, userId="bob")
    merged = browser.post(
        f"/profiles/{alice}/merge",
        data={"other": bob, "reason": "same person"},
        headers={"Origin": served.url, "Sec-Fetch-Site": "same-origin"},
    )
    assert merged.status_code == 303, merged.text
    page = browser.get(merged.headers["location"])
    assert "by admin (web): same person" in page.text
    assert profile_id(served, userId="alice") == profile_id(served, userId="bob")


def test_the_split_form_takes_the_identifier_off_once_rebuilt(
    served: ServedApp, browser: httpx.Client
) -> None:
    alice = profile_id(served, userId="alice")
    split = browser.post(
        f"/profiles/{alice}/split",
        data={"identifier": "anonymous_id:tablet", "reason": "a shared tablet"},
    )
    assert split.status_code == 303, split.text
    assert split.headers["location"] == "/profiles?query=tablet"
    served.resolved()
    tablet = served.admin.profile(anonymousId="tablet")
    assert tablet is not None
    assert [i["value"] for i in tablet["identifiers"]] == ["tablet"]


@pytest.mark.parametrize(
    ("form", "status", "field"),
    [
        ({"other": "prof_nobody", "reason": "x"}, 404, "profiles[1]"),
        ({"other": "", "reason": "x"}, 400, "other"),
        ({"other": "SELF", "reason": "x"}, 409, "profiles"),
        ({"other": "BOB", "reason": " "}, 400, "reason"),
    ],
)
def test_a_refused_merge_form_names_the_field(
    served: ServedApp, browser: httpx.Client, form: dict[str, str], status: int, field: str
) -> None:
    alice, bob = profile_id(served, userId="alice"), profile_id(served, userId="bob")
    data = {**form, "other": {"SELF": alice, "BOB": bob}.get(form["other"], form["other"])}
    refused = browser.post(f"/profiles/{alice}/merge", data=data)
    assert refused.status_code == status
    assert f"<code>{field}</code>" in refused.text


def test_a_merge_form_posted_from_another_site_is_refused(
    served: ServedApp, browser: httpx.Client
) -> None:
    alice, bob = profile_id(served, userId="alice"), profile_id(served, userId="bob")
    forged = browser.post(
        f"/profiles/{alice}/merge",
        data={"other": bob, "reason": "forged"},
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert forged.status_code == 403
    assert profile_id(served, userId="alice") != profile_id(served, userId="bob")
