"""Helpers of the page tests: the profile API client, logging in, and keeping screenshots."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from playwright.sync_api import Page

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "pages"
WAIT_SECONDS = 20.0


class Profiles:
    """The profile API of a running server, with the admin token."""

    def __init__(self, base_url: str, token: str) -> None:
        self.http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10.0
        )

    def close(self) -> None:
        self.http.close()

    def lookup(self, **identifier: str) -> dict[str, Any] | None:
        response = self.http.get("/api/profiles/lookup", params=identifier)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        profile: dict[str, Any] = response.json()["profile"]
        return profile

    def wait(self, event_count: int, **identifier: str) -> dict[str, Any]:
        """Poll (bounded) until the profile exists with at least ``event_count`` events."""
        deadline = time.monotonic() + WAIT_SECONDS
        profile = None
        while time.monotonic() < deadline:
            profile = self.lookup(**identifier)
            if profile is not None and profile["eventCount"] >= event_count:
                return profile
            time.sleep(0.1)
        raise AssertionError(f"profile {identifier} not resolved: {profile}")

    def events(self, profile_id: str) -> list[dict[str, Any]]:
        response = self.http.get(f"/api/profiles/{profile_id}/events")
        response.raise_for_status()
        events: list[dict[str, Any]] = response.json()["events"]
        return events


def login(page: Page, base_url: str, token: str, target: str = "/profiles") -> None:
    """Log in through the login form, landing on ``target``."""
    page.goto(f"{base_url}/login?next={target}")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}{target}*")


def screenshot(page: Page, name: str) -> None:
    """Keep a full-page screenshot in test-artifacts/pages/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
