"""A page running a real browser source, driven one call at a time, with what it sent on the wire.

``SourcePage`` loads a page whose snippet loads the browser source (``cioanalytics`` for the
Customer.io source, ``analytics`` for Segment's), runs calls in the page as a site's own code
would, and records every tracking request the page sends to the collector: the JSON body, the
headers and the collector's answer. The recorded bodies carry the ``messageId`` each event was sent
with, which is how a test finds the stored events again. ``sent`` holds the requests of the calls
made through ``open``/``send``, with the collector's answer; ``seen`` every tracking request the
page made, including batches and flushes on page leave.

``NetworkLog`` records every request of a browser context and blocks any that would leave this
machine.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, ConsoleMessage, Page, Request, Response, Route

SEND_TIMEOUT_MS = 15_000
TRACKING_PATHS = ("/v1/t", "/v1/i", "/v1/p", "/v1/s", "/v1/g", "/v1/a", "/v1/b")


@dataclass
class SentRequest:
    """One tracking request as the browser sent it, and the collector's status code."""

    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    status: int | None


@dataclass
class SourcePage:
    """A Playwright page with a browser source whose global is ``global_name``."""

    page: Page
    api_origin: str
    global_name: str = "cioanalytics"
    sent: list[SentRequest] = field(default_factory=list)
    seen: list[SentRequest] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on("console", self._on_console)
        self.page.on("request", self._on_request)

    def _on_request(self, request: Request) -> None:
        if self._is_tracking(request):
            body: dict[str, Any] = json.loads(request.post_data or "{}")
            path = request.url[len(self.api_origin) :]
            self.seen.append(SentRequest(path, body, request.headers, None))

    def _on_console(self, message: ConsoleMessage) -> None:
        self.console.append(f"{message.type}: {message.text}")

    def _is_tracking(self, request: Request) -> bool:
        if request.method != "POST" or not request.url.startswith(self.api_origin):
            return False
        return request.url[len(self.api_origin) :].split("?")[0] in TRACKING_PATHS

    def _record(self, request: Request) -> dict[str, Any]:
        response = request.response()
        body: dict[str, Any] = json.loads(request.post_data or "{}")
        self.sent.append(
            SentRequest(
                path=request.url[len(self.api_origin) :],
                body=body,
                headers=request.all_headers(),
                status=None if response is None else response.status,
            )
        )
        return body

    def load(self, url: str) -> None:
        """Load ``url`` and wait until the source has initialized, expecting no request."""
        self.page.goto(url)
        self._wait_until_initialized()

    def _wait_until_initialized(self) -> None:
        self.page.wait_for_function(
            f"() => window.{self.global_name} && window.{self.global_name}.initialized === true",
            timeout=SEND_TIMEOUT_MS,
        )

    def open(self, url: str) -> dict[str, Any]:
        """Load ``url``; return the body of the first tracking request (the snippet's page call)."""
        with self.page.expect_request(self._is_tracking, timeout=SEND_TIMEOUT_MS) as first:
            self.page.goto(url)
        body = self._record(first.value)
        self._wait_until_initialized()
        return body

    def send(self, call: str) -> dict[str, Any]:
        """Run ``call`` (JavaScript, with ``analytics`` bound to the source) and await it; return
        the body of the tracking request it caused."""
        return self.send_by(lambda: self.run(call))

    def send_by(self, action: Callable[[], object]) -> dict[str, Any]:
        """Do ``action`` (a click, a navigation); return the body of the tracking request it
        caused."""
        with self.page.expect_request(self._is_tracking, timeout=SEND_TIMEOUT_MS) as request:
            action()
        return self._record(request.value)

    def run(self, call: str) -> Any:
        """Run ``call`` in the page without expecting a request; return its JSON-able result."""
        script = f"""async () => {{
            const analytics = window.{self.global_name};
            const result = await ({call});
            if (result === undefined || result === null || typeof result !== "object") {{
                return result ?? null;
            }}
            try {{ return JSON.parse(JSON.stringify(result)); }} catch (error) {{ return null; }}
        }}"""
        return self.page.evaluate(script)

    def settle(self) -> None:
        """Let Playwright deliver the page's pending events (requests made so far reach ``seen``).

        The sync API runs event handlers only while it talks to the browser, so a test that
        waited elsewhere (polling the admin API) calls this before reading ``seen``.
        """
        self.page.evaluate("0")

    def anonymous_id(self) -> str | None:
        """The source's current anonymous id (``analytics.user().anonymousId()``)."""
        value: str | None = self.run("analytics.user().anonymousId()")
        return value

    def cookies(self) -> dict[str, str]:
        """The page's cookies by name."""
        return {
            cookie["name"]: cookie["value"]
            for cookie in self.page.context.cookies()
            if "name" in cookie and "value" in cookie
        }


LOOPBACK_NAMES = frozenset({"localhost"})
LOCAL_SCHEMES = frozenset({"data", "blob", "about"})


def is_loopback(url: str) -> bool:
    """Whether ``url`` points at this machine (127.0.0.0/8, ::1, localhost) or at no host."""
    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return True
    host = parts.hostname or ""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class SeenRequest:
    """One request a page made: its method, URL, resource type and outcome."""

    method: str
    url: str
    resource_type: str
    status: int | None = None
    failure: str | None = None


@dataclass
class NetworkLog:
    """Every request the pages of one browser context make; any not on loopback is blocked.

    ``attach`` routes the whole context through it, so nothing can reach another host (a test
    of this machine sends nothing elsewhere), and records each request with its answer:
    ``blocked`` the ones that tried to leave, ``answered`` those that got a response, ``failed``
    those that got none. (A response whose body the next navigation cut short is answered.)
    """

    blocked: list[SeenRequest] = field(default_factory=list)
    answered: list[SeenRequest] = field(default_factory=list)
    failed: list[SeenRequest] = field(default_factory=list)
    _responded: list[Request] = field(default_factory=list, repr=False)

    def attach(self, context: BrowserContext) -> None:
        """Route and record every request of ``context`` from now on."""
        context.route("**/*", self._route)
        context.on("response", self._on_response)
        context.on("requestfailed", self._on_failed)

    def _route(self, route: Route, request: Request) -> None:
        if is_loopback(request.url):
            route.continue_()
            return
        self.blocked.append(SeenRequest(request.method, request.url, request.resource_type))
        route.abort("blockedbyclient")

    def _on_response(self, response: Response) -> None:
        request = response.request
        self._responded.append(request)
        self.answered.append(
            SeenRequest(request.method, request.url, request.resource_type, response.status)
        )

    def _on_failed(self, request: Request) -> None:
        if not is_loopback(request.url) or any(request is seen for seen in self._responded):
            return  # recorded as blocked, or as answered
        self.failed.append(
            SeenRequest(request.method, request.url, request.resource_type, None, request.failure)
        )

    def scripts(self) -> list[SeenRequest]:
        """The scripts loaded, in the order their answers came."""
        return [seen for seen in self.answered if seen.resource_type == "script"]
