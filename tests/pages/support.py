"""Helpers of the page tests: logging in, and keeping screenshots."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Page

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "pages"


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
