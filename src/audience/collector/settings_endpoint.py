"""The browser clients' settings: ``GET /v1/projects/{writeKey}/settings`` and its Segment twin.

Browser clients load these before sending anything. ``/v1/projects/{writeKey}/settings`` serves
both clients at once: the Customer.io browser source reads its ``Customer.io Data Pipelines``
integration and Segment's ``analytics-next`` (``cdnURL`` set to this server's root) its
``Segment.io`` one, each pointed back at this server by ``apiHost`` and ``protocol``. Each client
takes the other's entry for a legacy destination but installs none from it, because neither
entry has ``type: "browser"`` or a ``browser`` component; having two entries only makes each
load its ``ajs-destination`` chunk, which ``bundle`` serves. That chunk replaces the site's
``plan`` load option (its tracking plan) with the settings' ``plan``, so the settings carry none.
The library's own telemetry is off (``metrics.sampleRate: 0``) and its host points here too,
should a client ever sample.

``/segment/v1/projects/{writeKey}/settings`` (``cdnURL`` ``http://<this server>/segment``)
names only ``Segment.io``, as it always has.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from audience.collector.write_keys import SourceResolver
from audience.errors import AuthenticationError
from audience.http.proxies import TrustedProxies
from audience.http.replies import JSONReply, error_reply
from audience.jsontypes import JSONObject

INTEGRATION: Final = "Customer.io Data Pipelines"
SEGMENT_INTEGRATION: Final = "Segment.io"
SEGMENT_PREFIX: Final = "/segment"


BOTH_CLIENTS: Final = (INTEGRATION, SEGMENT_INTEGRATION)


def browser_settings(
    write_key: str,
    api_host: str,
    protocol: str,
    integrations: Sequence[str] = BOTH_CLIENTS,
) -> JSONObject:
    """The settings JSON for one write key; ``api_host`` has no scheme (``cdp.example.com/v1``).

    Every integration named gets the same entry, sending to ``protocol://api_host``.
    """
    entry: JSONObject = {"apiKey": write_key, "apiHost": api_host, "protocol": protocol}
    return {
        "integrations": {name: dict(entry) for name in integrations},
        "metrics": {"sampleRate": 0, "host": api_host, "protocol": protocol},
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
        """The settings of both clients, and the Segment-only ones under ``/segment``."""
        return [
            Route("/v1/projects/{write_key}/settings", self._settings, methods=["GET"]),
            Route(
                SEGMENT_PREFIX + "/v1/projects/{write_key}/settings",
                self._segment_settings,
                methods=["GET"],
            ),
        ]

    async def _settings(self, request: Request) -> Response:
        return self._reply(request, BOTH_CLIENTS)

    async def _segment_settings(self, request: Request) -> Response:
        return self._reply(request, (SEGMENT_INTEGRATION,))

    def _reply(self, request: Request, integrations: tuple[str, ...]) -> Response:
        write_key = request.path_params["write_key"]
        try:
            self._sources.resolve(write_key)
        except AuthenticationError:
            return error_reply(404, "not_found", "no source has this write key")
        visitor = self._proxies.view_of(request)  # forwarded host and scheme from trusted proxies
        api_host, protocol = api_location(self._public_url, visitor.host, visitor.scheme)
        return JSONReply(
            browser_settings(write_key, api_host, protocol, integrations),
            headers={"Cache-Control": "no-cache"},
        )
