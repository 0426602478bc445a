"""The browser source's script, served from the npm package so sites paste the usual snippet.

With ``--browser-bundle DIR`` (the ``dist/umd`` folder of
``@customerio/cdp-analytics-browser``) the snippet's
``/v1/analytics-js/snippet/{writeKey}/analytics.min.js`` is the package's
``standalone.js``, and the chunks it loads later come from ``/v1/analytics-js/{name}.js``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from audience.collector.auth import SourceResolver
from audience.collector.replies import error_reply
from audience.errors import AuthenticationError, ConfigError

ENTRY_SCRIPT: Final = "standalone.js"
CHUNK_NAME: Final = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*\.js$")
SCRIPT_TYPE: Final = "application/javascript; charset=utf-8"


def snippet(write_key: str, origin: str) -> str:
    """The standard Customer.io Data Pipelines snippet, its host pointed at ``origin``."""
    return SNIPPET.replace("{origin}", origin).replace("{write_key}", write_key)


class BrowserBundle:
    """Serves the entry script and its chunks from one ``dist/umd`` folder."""

    def __init__(self, folder: Path, sources: SourceResolver) -> None:
        if not (folder / ENTRY_SCRIPT).is_file():
            raise ConfigError(
                f"browser bundle: {folder} has no {ENTRY_SCRIPT}; give the dist/umd folder of "
                "@customerio/cdp-analytics-browser"
            )
        self._folder = folder.resolve()
        self._sources = sources

    def routes(self) -> list[Route]:
        """The snippet script route and the chunk route."""
        return [
            Route(
                "/v1/analytics-js/snippet/{write_key}/analytics.min.js",
                self._entry,
                methods=["GET", "HEAD"],
            ),
            Route("/v1/analytics-js/{name}", self._chunk, methods=["GET", "HEAD"]),
        ]

    async def _entry(self, request: Request) -> Response:
        try:
            self._sources.resolve(request.path_params["write_key"])
        except AuthenticationError:
            return error_reply(404, "not_found", "no source has this write key")
        return FileResponse(self._folder / ENTRY_SCRIPT, media_type=SCRIPT_TYPE)

    async def _chunk(self, request: Request) -> Response:
        name = request.path_params["name"]
        path = self._folder / name
        if not CHUNK_NAME.match(name) or not path.is_file():
            return error_reply(404, "not_found", "no such script")
        return FileResponse(path, media_type=SCRIPT_TYPE)


SNIPPET: Final = """<script>
  !function(){var i="cioanalytics",analytics=(window[i]=window[i]||[]);if(!analytics.initialize)if(analytics.invoked)window.console&&console.error&&console.error("Snippet included twice.");else{analytics.invoked=!0;analytics.methods=["trackSubmit","trackClick","trackLink","trackForm","pageview","identify","reset","group","track","ready","alias","debug","page","once","off","on","addSourceMiddleware","addIntegrationMiddleware","setAnonymousId","addDestinationMiddleware"];analytics.factory=function(e){return function(){var t=Array.prototype.slice.call(arguments);t.unshift(e);analytics.push(t);return analytics}};for(var e=0;e<analytics.methods.length;e++){var key=analytics.methods[e];analytics[key]=analytics.factory(key)}analytics.load=function(key,e){var t=document.createElement("script");t.type="text/javascript";t.async=!0;t.setAttribute("data-global-customerio-analytics-key",i);t.src="{origin}/v1/analytics-js/snippet/"+key+"/analytics.min.js";var n=document.getElementsByTagName("script")[0];n.parentNode.insertBefore(t,n);analytics._writeKey=key;analytics._loadOptions=e};analytics.SNIPPET_VERSION="4.15.3";
    analytics.load("{write_key}");
    analytics.page();
  }}();
</script>"""  # noqa: E501
