"""Both browser clients, as snippets and as npm builds, pinned and latest: no request leaves home.

Each flow runs in Chromium with every request its pages make recorded and anything not on
loopback blocked: the seed's flow (page, track, identify, track, reset, page), a ``trackLink``
click (which loads the auto-track chunk) and a landing on an ``?ajs_event=`` URL (which runs the
query-string plugin, a chunk of its own in Segment's build, and asks Customer.io's for its in-app
chunk). Every client loads its destinations chunk (the settings name two integrations), and the
npm builds their tracking-plan chunk. The collector serves both clients' ``dist/umd`` folders,
and pages point at it the way a migrating team would: the snippet ``audience serve`` prints for
each client, or the npm build (``dist/umd/index.js``, served by the site itself) loaded with
``cdnURL`` set to the collector's root, and ``window.analytics._cdn`` set before its script tag,
because the build fixes where its chunks come from when its script runs.

Every flow runs for the pinned packages (tests/interop/js) and for the latest releases on npm
(tests/interop/js-latest, installed afresh by scripts/setup-system on every run).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from audience.collector.bundle import segment_snippet, snippet
from interop.browser import NetworkLog, SourcePage, is_loopback
from interop.fixtures import ServerFactory, require_npm_packages
from interop.harness import (
    CIO_PACKAGE,
    LATEST_PACKAGES,
    PINNED_PACKAGES,
    SEGMENT_PACKAGE,
    ClientPackages,
    SiteRequest,
    StaticSite,
)
from support import AdminApi, AudienceServer

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@dataclass(frozen=True)
class Setup:
    """One way a site loads one client: which package, snippet or npm build, and its source."""

    name: str
    package: str
    npm_build: bool

    @property
    def write_key(self) -> str:
        return "wk_home_" + self.name.replace("-", "_")

    @property
    def global_name(self) -> str:
        """Where the page keeps the client once it is ready."""
        if self.npm_build:
            return "siteAnalytics"
        return "cioanalytics" if self.package == CIO_PACKAGE else "analytics"


SETUPS = (
    Setup("cio-snippet", CIO_PACKAGE, npm_build=False),
    Setup("cio-npm", CIO_PACKAGE, npm_build=True),
    Setup("segment-snippet", SEGMENT_PACKAGE, npm_build=False),
    Setup("segment-npm", SEGMENT_PACKAGE, npm_build=True),
)
LANDING_QUERY = "?ajs_event=Signed%20Up&ajs_prop_plan=pro&cio_debug_session=true"
"""Runs the query-string plugin; Customer.io's build also loads its in-app chunk for a debug
session."""
TRACKING_PLAN = "{track: {__default: {enabled: true}}}"
"""A load option that makes the npm builds load their tracking-plan filter chunk."""
FLOW_EVENTS = 8
"""The landing page, three seed steps, the page after reset, the click, the landing's two."""
SEND_SECONDS = 15.0
SEED_STEPS = (
    "analytics.track('Added to Cart', {sku: 'sku-1'})",
    "analytics.identify('user_123', {email: 'jane@example.com'})",
    "analytics.track('Order Completed', {revenue: 42.5})",
)


def npm_page(setup: Setup, packages: ClientPackages, origin: str) -> str:
    """A page that loads the npm build from the site itself, as its own bundle would be."""
    script = f"/vendor/{setup.package}/dist/umd/index.js"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">
<title>audience interop: {setup.package} {packages.version(setup.package)} npm build</title>
<script>window.analytics = {{_cdn: "{origin}"}};</script>
<script src="{script}"></script>
<script>
  const browser = AnalyticsNext.AnalyticsBrowser.load(
    {{writeKey: "{setup.write_key}", cdnURL: "{origin}"}}, {{plan: {TRACKING_PLAN}}});
  browser.then(([analytics]) => {{ window.siteAnalytics = analytics; }});
  browser.page();
</script>
</head><body><h1>Shop</h1><a id="buy" href="#bought">Buy</a></body></html>"""


def snippet_page(setup: Setup, origin: str) -> str:
    """A page with the snippet ``audience serve`` prints for the client, pasted as it is."""
    make = snippet if setup.package == CIO_PACKAGE else segment_snippet
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">
<title>audience interop: {setup.package} snippet</title>
{make(setup.write_key, origin)}
</head><body><h1>Shop</h1><a id="buy" href="#bought">Buy</a></body></html>"""


def home_site(packages: ClientPackages, server: AudienceServer) -> StaticSite:
    """The site: a page for each setup, and the npm packages under ``/vendor/``."""
    site = StaticSite({"/vendor/": packages.node_modules}, {})
    for setup in SETUPS:
        html = (
            npm_page(setup, packages, server.url)
            if setup.npm_build
            else snippet_page(setup, server.url)
        ).encode()

        def serve(
            request: SiteRequest, html: bytes = html
        ) -> tuple[int, list[tuple[str, str]], bytes]:
            return 200, [("Content-Type", "text/html; charset=utf-8")], html

        site.handlers[f"/{setup.name}.html"] = serve
    return site


@dataclass
class Home:
    """The collector serving both clients of one install, and the site whose pages use it."""

    packages: ClientPackages
    server: AudienceServer
    site: StaticSite


class Homes:
    """One home at a time: the flows run for the pinned packages first, then for the latest."""

    def __init__(self, factory: ServerFactory) -> None:
        self.factory = factory
        self.current: Home | None = None

    def of(self, packages: ClientPackages) -> Home:
        """The home of ``packages``, started (and the previous one stopped) when needed."""
        if self.current is not None and self.current.packages == packages:
            return self.current
        self.close()
        require_npm_packages(packages)
        server = self.factory(
            sources={setup.name: setup.write_key for setup in SETUPS},
            browser_bundles=(packages.bundle(CIO_PACKAGE), packages.bundle(SEGMENT_PACKAGE)),
        )
        site = home_site(packages, server)
        site.start()
        self.current = Home(packages, server, site)
        return self.current

    def close(self) -> None:
        """Stop the current home's site and collector."""
        if self.current is not None:
            self.current.site.stop()
            self.current.server.stop()
            self.current = None


@pytest.fixture(scope="module")
def server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerFactory]:
    factory = ServerFactory(tmp_path_factory)
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture(scope="module")
def homes(server_factory: ServerFactory) -> Iterator[Homes]:
    started = Homes(server_factory)
    try:
        yield started
    finally:
        started.close()


CASES = [(packages, setup) for packages in (PINNED_PACKAGES, LATEST_PACKAGES) for setup in SETUPS]
CASE_IDS = [f"{setup.name}-{packages.label}" for packages, setup in CASES]


@dataclass
class Flow:
    """What one setup's flow sent, what the collector stored, and every request it made."""

    setup: Setup
    network: NetworkLog
    source_page: SourcePage
    stored: list[dict[str, Any]]
    server: AudienceServer


@pytest.fixture(scope="module", params=CASES, ids=CASE_IDS)
def flow(request: pytest.FixtureRequest, chromium: Browser, homes: Homes) -> Iterator[Flow]:
    """The seed's flow, a tracked link click and a landing with ``?ajs_event=`` for one setup."""
    packages: ClientPackages
    setup: Setup
    packages, setup = request.param
    home = homes.of(packages)
    home_server = home.server
    context = chromium.new_context()
    network = NetworkLog()
    network.attach(context)
    try:
        source_page = SourcePage(context.new_page(), home_server.url, setup.global_name)
        page_url = home.site.url(f"{setup.name}.html")
        source_page.open(page_url)
        for call in SEED_STEPS:
            source_page.send(call)
        source_page.run("analytics.reset()")
        source_page.send("analytics.page()")
        source_page.run(
            "analytics.trackLink(document.getElementById('buy'), 'Clicked Buy', {plan: 'pro'})"
            ".then(() => null)"
        )
        source_page.send_by(lambda: source_page.page.click("#buy"))
        source_page.open(page_url + LANDING_QUERY)
        with home_server.admin() as admin:
            stored = wait_for_everything_sent(admin, setup, source_page)
        yield Flow(setup, network, source_page, stored, home_server)
    finally:
        context.close()


def wait_for_everything_sent(
    admin: AdminApi, setup: Setup, source_page: SourcePage
) -> list[dict[str, Any]]:
    """Wait until the page has sent every event of the flow; return them as stored, in order."""
    deadline = time.monotonic() + SEND_SECONDS
    source_page.settle()
    while len(source_page.seen) < FLOW_EVENTS and time.monotonic() < deadline:
        source_page.page.wait_for_timeout(50)
    message_ids = [request.body["messageId"] for request in source_page.seen]
    return list(admin.wait_for_message_ids(setup.name, message_ids).values())


def test_no_request_of_the_flow_leaves_the_loopback_hosts(flow: Flow) -> None:
    assert flow.network.blocked == []
    assert flow.network.failed == []
    assert all(is_loopback(seen.url) for seen in flow.network.answered)
    assert [seen for seen in flow.network.answered if (seen.status or 0) >= 400] == []


def test_each_client_reads_its_settings_from_the_collector_root(flow: Flow) -> None:
    settings = [seen for seen in flow.network.answered if seen.url.endswith("/settings")]
    expected = f"{flow.server.url}/v1/projects/{flow.setup.write_key}/settings"
    assert {seen.url for seen in settings} == {expected}
    assert {seen.status for seen in settings} == {200}


def test_every_chunk_the_client_loads_lazily_comes_from_the_collector(flow: Flow) -> None:
    scripts = flow.network.scripts()
    entry = {
        "cio-snippet": f"{flow.server.url}/v1/analytics-js/snippet/{flow.setup.write_key}/",
        "segment-snippet": f"{flow.server.url}/analytics.js/v1/{flow.setup.write_key}/",
    }.get(flow.setup.name, f"/vendor/{flow.setup.package}/dist/umd/index.js")
    chunks = [seen for seen in scripts if entry not in seen.url]
    assert len(chunks) < len(scripts)  # the entry script loaded, and only that is not a chunk
    prefix = (
        f"{flow.server.url}/v1/analytics-js/"
        if flow.setup.name == "cio-snippet"
        else f"{flow.server.url}/analytics-next/bundles/"
    )
    assert [seen.url for seen in chunks if not seen.url.startswith(prefix)] == []
    assert {seen.status for seen in chunks} == {200}
    names = {seen.url.removeprefix(prefix).split(".")[0] for seen in chunks}
    lazily_loaded = {"auto-track", "ajs-destination"}
    lazily_loaded.add("queryString" if flow.setup.package == SEGMENT_PACKAGE else "inAppPlugin")
    if flow.setup.npm_build:
        lazily_loaded.add("schemaFilter")
    assert lazily_loaded <= names


def test_every_event_of_the_flow_is_stored_with_the_ids_the_browser_gave_it(flow: Flow) -> None:
    stored = flow.stored
    assert [event["type"] for event in stored[:6]] == [
        "page",
        "track",
        "identify",
        "track",
        "page",
        "track",
    ]
    first_visit, after_reset = stored[:4], stored[4:]
    anonymous_id = first_visit[0]["anonymousId"]
    assert {event["anonymousId"] for event in first_visit} == {anonymous_id}
    assert [event.get("userId") for event in first_visit] == [None, None, "user_123", "user_123"]
    assert len({event["anonymousId"] for event in after_reset} - {anonymous_id}) == 1
    assert {event.get("userId") for event in after_reset} == {None}
    assert stored[2]["traits"] == {"email": "jane@example.com"}
    assert (stored[3]["event"], stored[3]["properties"]) == ("Order Completed", {"revenue": 42.5})
    assert (stored[5]["event"], stored[5]["properties"]) == ("Clicked Buy", {"plan": "pro"})


def test_an_ajs_event_landing_url_is_stored_as_the_track_it_names(flow: Flow) -> None:
    landing = {event["type"]: event for event in flow.stored[6:]}
    assert sorted(landing) == ["page", "track"]
    assert (landing["track"]["event"], landing["track"]["properties"]) == (
        "Signed Up",
        {"plan": "pro"},
    )
    assert landing["page"]["properties"]["search"] == LANDING_QUERY
