"""The browser clients' settings: ``GET /v1/projects/{writeKey}/settings`` and its Segment twin.

Browser clients load these before sending anything. Each names exactly one integration
whose ``apiHost`` and ``protocol`` point back at this server, and turns the library's own
telemetry off (``metrics.sampleRate: 0``), so no request leaves for the vendor.

The Customer.io browser source reads ``/v1/projects/{writeKey}/settings`` and its
``Customer.io Data Pipelines`` integration. Segment's ``analytics-next`` reads
``{cdnURL}/v1/projects/{writeKey}/settings`` and its ``Segment.io`` integration, so with
``cdnURL`` set to ``http://<this server>/segment`` it finds them under
``/segment/v1/projects/{writeKey}/settings``.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from audience.collector.auth import SourceResolver
from audience.collector.proxies import TrustedProxies
from audience.collector.replies import JSONReply, error_reply
from audience.errors import AuthenticationError
from audience.jsontypes import JSONObject

INTEGRATION: Final = "Customer.io Data Pipelines"
SEGMENT_INTEGRATION: Final = "Segment.io"
SEGMENT_PREFIX: Final = "/segment"


def browser_settings(
    write_key: str, api_host: str, protocol: str, integration: str = INTEGRATION
) -> JSONObject:
    """The settings JSON for one write key; ``api_host`` has no scheme (``cdp.example.com/v1``)."""
    return {
        "integrations": {
            integration: {"apiKey": write_key, "apiHost": api_host, "protocol": protocol},
        },
        "metrics": {"sampleRate": 0},
        "plan": {},
        "remotePlugins": [],
    }


def api_location(public_url: str | None, request_host: str | None, scheme: str) -> tuple[str, str]:
    """``(apiHost, protocol)``: from the public URL, else the host the request came to."""
    if public_url:
        parts = urlsplit(public_url)
        return f"{parts.netloc}{parts.path.rstrip('/')}/v1", parts.scheme
    return f"{request_host or 'localhost'}/v1", scheme


class SettingsEndpoint:
    """Serves the browser settings of every known write key; unknown keys get 404."""

    def __init__(
        self,
        sources: SourceResolver,
        public_url: str | None = None,
        proxies: TrustedProxies | None = None,
    ) -> None:
        self._sources = sources
        self._public_url = public_url
        self._proxies = proxies or TrustedProxies()

    def routes(self) -> list[Route]:
        """The Customer.io settings route and the Segment one under ``/segment``."""
        return [
            Route("/v1/projects/{write_key}/settings", self._settings, methods=["GET"]),
            Route(
                SEGMENT_PREFIX + "/v1/projects/{write_key}/settings",
                self._segment_settings,
                methods=["GET"],
            ),
        ]

    async def _settings(self, request: Request) -> Response:
        return self._reply(request, INTEGRATION)

    async def _segment_settings(self, request: Request) -> Response:
        return self._reply(request, SEGMENT_INTEGRATION)

    def _reply(self, request: Request, integration: str) -> Response:
        write_key = request.path_params["write_key"]
        try:
            self._sources.resolve(write_key)
        except AuthenticationError:
            return error_reply(404, "not_found", "no source has this write key")
        visitor = self._proxies.view_of(request)  # forwarded host and scheme from trusted proxies
        api_host, protocol = api_location(self._public_url, visitor.host, visitor.scheme)
        return JSONReply(
            browser_settings(write_key, api_host, protocol, integration),
            headers={"Cache-Control": "no-cache"},
        )
