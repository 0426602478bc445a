"""Pytest fixtures for tests that talk to a real ``audience serve`` (tests/conftest.py loads them).

- ``audience_server_factory``: starts servers with the sources and arguments a test asks for, each
  in its own data folder, and stops them afterwards (``kill``/``start`` on the returned server for
  crash and restart tests).
- ``audience_server``: one server shared by the session, with the ``INTEROP_SOURCES`` write keys,
  the admin token ``INTEROP_ADMIN_TOKEN`` and both browser clients' bundles (pinned packages).
- ``admin_api``: an ``AdminApi`` client for ``audience_server``.
- ``static_site``: the pages of tests/interop/pages on ``http://localhost:PORT``.
- ``chromium``: Debian's Chromium driven by Playwright; ``browser_context``: a fresh profile
  (no cookies, no localStorage) for one test.

When a test that used a server fails, the server's log lines written since the previous test
ended are attached to its report, and the whole log is copied to ``test-artifacts/interop/``.
"""

from __future__ import annotations

import shutil
from collections.abc import Generator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from interop.harness import (
    CHROMIUM_ARGS,
    CHROMIUM_EXECUTABLE,
    CIO_BROWSER_BUNDLE,
    PAGES_DIR,
    PINNED_PACKAGES,
    SEGMENT_BROWSER_BUNDLE,
    ClientPackages,
    StaticSite,
)
from support import AdminApi, AudienceServer

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext

INTEROP_ADMIN_TOKEN = "interop-admin-token-for-the-real-clients"
INTEROP_SOURCES: Mapping[str, str] = {
    "browser": "wk_interop_browser",
    "segment-browser": "wk_interop_segment_browser",
    "cio-python": "wk_interop_cio_python",
    "cio-python-region": "pk_us_interop_region",
    "segment-python": "wk_interop_segment_python",
    "rudder-python": "wk_interop_rudder_python",
    "sdk": "wk_interop_sdk",
}
ARTIFACTS_DIR = Path(__file__).resolve().parents[2] / "test-artifacts" / "interop"


class ServerFactory:
    """Starts ``audience serve`` processes in fresh data folders; ``stop_all`` ends them."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self.tmp_path_factory = tmp_path_factory
        self.servers: list[AudienceServer] = []

    def __call__(
        self,
        sources: Mapping[str, str] | None = None,
        admin_token: str = INTEROP_ADMIN_TOKEN,
        browser_bundles: Sequence[Path] = (),
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        start: bool = True,
    ) -> AudienceServer:
        base = self.tmp_path_factory.mktemp("audience")
        server = AudienceServer(
            data_dir=base / "data",
            sources=dict(sources or {"default": "wk_test"}),
            admin_token=admin_token,
            log_path=base / "serve.log",
            browser_bundles=tuple(browser_bundles),
            extra_args=tuple(extra_args),
            env=dict(env or {}),
        )
        self.servers.append(server)
        if start:
            server.start()
        return server

    def stop_all(self) -> None:
        """Stop every server this factory started."""
        for server in self.servers:
            server.stop()


def _servers_of(item: pytest.Item) -> list[AudienceServer]:
    found: list[AudienceServer] = []
    for value in getattr(item, "funcargs", {}).values():
        candidates = value.servers if isinstance(value, ServerFactory) else [value]
        found += [c for c in candidates if isinstance(c, AudienceServer) and c not in found]
    return found


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the server log lines of a failed test to its report and keep the logs."""
    report = yield
    for server in _servers_of(item):
        if report.failed:
            report.sections.append(
                (f"audience serve log ({server.log_path})", server.log_since(server.log_mark))
            )
            ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
            if server.log_path.exists():
                shutil.copy(server.log_path, ARTIFACTS_DIR / f"{item.name}.{server.port}.log")
        if report.when == "teardown":
            server.log_mark = server.log_size()
    return report


def require_npm_packages(packages: ClientPackages = PINNED_PACKAGES) -> None:
    """Fail (never skip) with the fix when the real browser clients are not installed."""
    for bundle in packages.missing():
        pytest.fail(
            f"{bundle} is missing: run scripts/setup-system (it installs the {packages.label} "
            f"packages into {packages.node_modules.parent})"
        )


@pytest.fixture
def audience_server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerFactory]:
    """Start ``audience serve`` processes for one test; every one is stopped afterwards.

    ``factory(sources={"web": "KEY"}, admin_token=..., browser_bundles=(), extra_args=(),
    env={}, start=True)`` returns the ``AudienceServer`` (running unless ``start=False``).
    """
    factory = ServerFactory(tmp_path_factory)
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture(scope="session")
def audience_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AudienceServer]:
    """One ``audience serve`` for the session, with the ``INTEROP_SOURCES`` write keys.

    Tests share it, so each reads back only its own events (its own source, ids or messageIds).
    """
    require_npm_packages()
    base = tmp_path_factory.mktemp("audience-shared")
    server = AudienceServer(
        data_dir=base / "data",
        sources=INTEROP_SOURCES,
        admin_token=INTEROP_ADMIN_TOKEN,
        log_path=base / "serve.log",
        browser_bundles=(CIO_BROWSER_BUNDLE, SEGMENT_BROWSER_BUNDLE),
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def admin_api(audience_server: AudienceServer) -> Iterator[AdminApi]:
    """The admin read API of ``audience_server``."""
    with audience_server.admin() as admin:
        yield admin


@pytest.fixture(scope="session")
def static_site(audience_server: AudienceServer) -> Iterator[StaticSite]:
    """tests/interop/pages on ``http://localhost:PORT``, with ``{{api_origin}}``, ``{{api_host}}``,
    ``{{write_key:SOURCE}}`` and ``{{audience_snippet:SOURCE}}`` (the snippet audience prints)
    filled in.

    It also serves ``@segment/analytics-next``'s bundle; its pages take their settings from
    ``audience_server`` itself (``cdnURL`` ``{{api_origin}}/segment``).
    """
    from audience.collector.bundle import snippet

    values = {
        "api_origin": audience_server.url,
        "api_host": audience_server.host,
        **{f"write_key:{name}": key for name, key in INTEROP_SOURCES.items()},
        **{
            f"audience_snippet:{name}": snippet(key, audience_server.url)
            for name, key in INTEROP_SOURCES.items()
        },
    }
    mounts = {"/": PAGES_DIR, "/analytics-next/bundles/": SEGMENT_BROWSER_BUNDLE}
    with StaticSite(mounts, values) as site:
        yield site


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium (``/usr/bin/chromium``), headless, launched once per session."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM_EXECUTABLE, headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_context(chromium: Browser) -> Iterator[BrowserContext]:
    """A new browser profile for one test: no cookies, no localStorage, closed afterwards."""
    context = chromium.new_context()
    try:
        yield context
    finally:
        context.close()
