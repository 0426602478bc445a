"""The browser source's settings: ``GET /v1/projects/{writeKey}/settings``.

The browser source loads these before sending anything. They name exactly one
integration, ``Customer.io Data Pipelines``, whose ``apiHost`` and ``protocol`` point back
at this server, and turn the library's own telemetry off (``metrics.sampleRate: 0``), so
no request leaves for Customer.io.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from audience.collector.auth import SourceResolver
from audience.collector.replies import JSONReply, error_reply
from audience.errors import AuthenticationError
from audience.jsontypes import JSONObject

INTEGRATION: Final = "Customer.io Data Pipelines"


def browser_settings(write_key: str, api_host: str, protocol: str) -> JSONObject:
    """The settings JSON for one write key; ``api_host`` has no scheme (``cdp.example.com/v1``)."""
    return {
        "integrations": {
            INTEGRATION: {"apiKey": write_key, "apiHost": api_host, "protocol": protocol},
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

    def __init__(self, sources: SourceResolver, public_url: str | None = None) -> None:
        self._sources = sources
        self._public_url = public_url

    def routes(self) -> list[Route]:
        """The one settings route."""
        return [Route("/v1/projects/{write_key}/settings", self._settings, methods=["GET"])]

    async def _settings(self, request: Request) -> Response:
        write_key = request.path_params["write_key"]
        try:
            self._sources.resolve(write_key)
        except AuthenticationError:
            return error_reply(404, "not_found", "no source has this write key")
        api_host, protocol = api_location(
            self._public_url, request.headers.get("host"), request.url.scheme
        )
        return JSONReply(
            browser_settings(write_key, api_host, protocol),
            headers={"Cache-Control": "no-cache"},
        )
