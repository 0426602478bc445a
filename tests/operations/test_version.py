"""One version, the package's: `audience --version`, `/healthz` and the changelog all say it."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import httpx

from audience import __version__
from support.audience_server import AudienceServer, audience_command

ROOT = Path(__file__).resolve().parents[2]


def test_the_package_s_version_is_the_one_of_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert __version__ == project["version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)


def test_audience_version_and_healthz_report_the_package_s_version(tmp_path: Path) -> None:
    printed = subprocess.run(
        [*audience_command(), "--version"], capture_output=True, text=True, check=True, timeout=60
    )
    assert printed.stdout.strip() == f"audience, version {__version__}"
    with AudienceServer(tmp_path / "data", tmp_path / "serve.log", admin_token="t" * 40) as server:
        health = httpx.get(f"{server.url}/healthz", timeout=10).json()
    assert health["version"] == __version__


def test_the_changelog_has_an_unreleased_section_and_one_for_this_version() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    headings = re.findall(r"^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?$", changelog, re.M)
    assert headings[0] == ("Unreleased", "")
    assert (__version__, headings[1][1]) == headings[1]
    assert headings[1][1], "a released version carries its date"
    assert "Keep a Changelog" in changelog
