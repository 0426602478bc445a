"""The browser clients' scripts, served from their npm packages so a page loads nothing elsewhere.

``--browser-bundle DIR`` takes the ``dist/umd`` folder of ``@customerio/cdp-analytics-browser``,
of ``@segment/analytics-next``, or one of each (repeat the option). Which client a folder holds is
read from its ``standalone.js``: webpack names every build's chunk loader after the package
(``"@segment/analytics-next:"``), so the rule holds for every release.

Each client's build fixes where it loads its chunks from (webpack's public path) from the CDN it
finds when its script runs: ``analytics._cdn`` (``cdnURL`` for the npm build), else its own
script's URL, else the vendor's CDN. Audience serves every file at the paths those give when the
CDN is this server:

- Customer.io: its ``standalone.js`` at ``/v1/analytics-js/snippet/{writeKey}/analytics.min.js``
  (the snippet's URL); chunks at ``/v1/analytics-js/{chunk}`` (the snippet's build) and
  ``/analytics-next/bundles/{chunk}`` (the npm build, ``dist/umd/index.js``).
- Segment: its ``standalone.js`` at ``/analytics.js/v1/{writeKey}/analytics.min.js`` (the
  snippet's URL); chunks at ``/analytics-next/bundles/{chunk}`` (both builds), and under
  ``/segment`` too for a ``cdnURL`` of ``http://<this server>/segment``.

A chunk is any ``.js`` file of the folder but the two entry scripts (``standalone.js``,
``index.js``); anything else is 404, and paths are looked up in the listing read at startup, so
none can leave the folder. Files are read and compressed once at startup (restart to serve an
upgrade): brotli and gzip (the package's own ``.gz`` twin when it is the script compressed), each
sent to browsers whose ``Accept-Encoding`` prefers it, with an ``ETag`` of its own.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import re
import zlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import brotli
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from audience.collector.write_keys import SourceResolver
from audience.errors import AuthenticationError, ConfigError
from audience.http.replies import error_reply

ENTRY_SCRIPT: Final = "standalone.js"
NPM_ENTRY_SCRIPT: Final = "index.js"
SCRIPT_TYPE: Final = "application/javascript; charset=utf-8"
SHORT_CACHE: Final = "public, max-age=300"
"""Entry scripts and unhashed chunks: browsers pick up a restarted server's files in 5 minutes."""
IMMUTABLE_CACHE: Final = "public, max-age=31536000, immutable"
"""Chunks whose name carries their content hash never change under that name."""
HASHED_NAME: Final = re.compile(r"\.[0-9a-f]{16,}\.js$")
SEGMENT_PREFIX: Final = "/segment"
NPM_CHUNKS: Final = "/analytics-next/bundles/"
ENCODINGS: Final = ("br", "gzip")
"""The content codings scripts are sent in, preferred in this order when a browser weighs them
alike; ``identity`` (the plain script) is always available."""
_ETAG_SUFFIX: Final = {"br": "-br", "gzip": "-gz"}


@dataclass(frozen=True)
class BrowserClient:
    """One browser client: how to recognise its build and where it looks for its files."""

    name: str
    package: str
    marker: bytes
    entry_route: str
    chunk_prefixes: tuple[str, ...]


CUSTOMERIO: Final = BrowserClient(
    name="Customer.io",
    package="@customerio/cdp-analytics-browser",
    marker=b'"@customerio/cdp-analytics-browser:"',
    entry_route="/v1/analytics-js/snippet/{write_key}/analytics.min.js",
    chunk_prefixes=("/v1/analytics-js/", NPM_CHUNKS),
)
SEGMENT: Final = BrowserClient(
    name="Segment",
    package="@segment/analytics-next",
    marker=b'"@segment/analytics-next:"',
    entry_route="/analytics.js/v1/{write_key}/analytics.min.js",
    chunk_prefixes=(NPM_CHUNKS, SEGMENT_PREFIX + NPM_CHUNKS),
)
CLIENTS: Final = (CUSTOMERIO, SEGMENT)

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class ScriptFile:
    """One script as served: its bytes, its compressed forms, and its headers.

    ``encoded`` maps a content coding (``br``, ``gzip``) to the script compressed with it, for
    each coding that makes it smaller. ``etag`` is a strong validator of ``body``; each
    compressed form's is the same with ``-br`` or ``-gz``.
    """

    body: bytes
    encoded: Mapping[str, bytes]
    cache_control: str
    etag: str

    @classmethod
    def of(cls, body: bytes, gzipped: bytes | None, cache_control: str) -> ScriptFile:
        """The script ``body``, compressed now; a ``gzipped`` twin is used when it decompresses
        to ``body`` (it may be smaller than ours), else dropped."""
        if gzipped is None or _gunzip(gzipped) != body:
            gzipped = _gzip(body)
        encoded = {"br": _brotli(body), "gzip": gzipped}
        smaller = {coding: data for coding, data in encoded.items() if len(data) < len(body)}
        return cls(body, smaller, cache_control, f'"{hashlib.sha256(body).hexdigest()[:32]}"')

    def etag_of(self, coding: str | None) -> str:
        """The validator of the form sent for ``coding`` (``None``: the plain script)."""
        return self.etag if coding is None else self.etag[:-1] + _ETAG_SUFFIX[coding] + '"'


@functools.lru_cache(maxsize=256)
def _brotli(body: bytes) -> bytes:
    # Several applications of one process (tests, reloads) share the work of the best quality.
    return bytes(brotli.compress(body, quality=11))


@functools.lru_cache(maxsize=256)
def _gzip(body: bytes) -> bytes:
    return gzip.compress(body, compresslevel=9, mtime=0)


def _gunzip(data: bytes) -> bytes | None:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error):
        return None


@dataclass(frozen=True)
class ClientBundle:
    """The files of one client's ``dist/umd`` folder."""

    client: BrowserClient
    folder: Path
    entry: ScriptFile
    chunks: Mapping[str, ScriptFile]


def recognise(folder: Path, standalone: bytes) -> BrowserClient:
    """The client whose build ``standalone`` (the folder's ``standalone.js``) is."""
    for client in CLIENTS:
        if client.marker in standalone:
            return client
    packages = " or ".join(client.package for client in CLIENTS)
    raise ConfigError(
        f"browser bundle: {folder}/{ENTRY_SCRIPT} is not the build of {packages}; "
        "give the package's dist/umd folder"
    )


def cache_control(name: str) -> str:
    """Long-lived for a chunk named after its content hash, short for anything else."""
    return IMMUTABLE_CACHE if HASHED_NAME.search(name) else SHORT_CACHE


def _read_script(path: Path, cache: str) -> ScriptFile:
    twin = path.with_name(path.name + ".gz")
    return ScriptFile.of(path.read_bytes(), twin.read_bytes() if twin.is_file() else None, cache)


def load_bundle(folder: Path) -> ClientBundle:
    """Read one ``dist/umd`` folder: recognise its client, read its entry script and chunks."""
    entry_path = folder / ENTRY_SCRIPT
    if not entry_path.is_file():
        raise ConfigError(
            f"browser bundle: {folder} has no {ENTRY_SCRIPT}; give the dist/umd folder of "
            + " or ".join(client.package for client in CLIENTS)
        )
    entry = _read_script(entry_path, SHORT_CACHE)
    client = recognise(folder, entry.body)
    chunks = {
        path.name: _read_script(path, cache_control(path.name))
        for path in sorted(folder.glob("*.js"))
        if path.name not in (ENTRY_SCRIPT, NPM_ENTRY_SCRIPT) and path.is_file()
    }
    return ClientBundle(client, folder.resolve(), entry, chunks)


def load_bundles(folders: Sequence[Path]) -> list[ClientBundle]:
    """Read every folder given; two folders of one client are refused."""
    bundles: list[ClientBundle] = []
    for folder in folders:
        bundle = load_bundle(folder)
        for other in bundles:
            if other.client == bundle.client:
                raise ConfigError(
                    f"browser bundle: {other.folder} and {bundle.folder} both hold "
                    f"{bundle.client.package}; give one folder per client"
                )
        bundles.append(bundle)
    return bundles


def chunk_index(bundles: Sequence[ClientBundle]) -> dict[str, dict[str, ScriptFile]]:
    """Every chunk by URL prefix and name; two clients with a chunk of one name are refused."""
    index: dict[str, dict[str, ScriptFile]] = {}
    owners: dict[tuple[str, str], Path] = {}
    for bundle in bundles:
        for prefix in bundle.client.chunk_prefixes:
            served = index.setdefault(prefix, {})
            for name, script in bundle.chunks.items():
                if name in served:
                    raise ConfigError(
                        f"browser bundle: {owners[prefix, name]} and {bundle.folder} both have "
                        f"{name}, served at {prefix}{name}"
                    )
                served[name] = script
                owners[prefix, name] = bundle.folder
    return index


def script_reply(request: Request, script: ScriptFile) -> Response:
    """``script`` with its content type and caching, in the coding the browser prefers, or 304
    when the browser's copy is current."""
    coding = choose_encoding(request.headers.get("accept-encoding", ""), script.encoded)
    etag = script.etag_of(coding)
    headers = {
        "Cache-Control": script.cache_control,
        "ETag": etag,
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
    }
    if_none_match = _etags(request.headers.get("if-none-match", ""))
    if etag in if_none_match or "*" in if_none_match:
        return Response(status_code=304, headers=headers)
    if coding is not None:
        headers["Content-Encoding"] = coding
        return Response(script.encoded[coding], media_type=SCRIPT_TYPE, headers=headers)
    return Response(script.body, media_type=SCRIPT_TYPE, headers=headers)


def choose_encoding(accept_encoding: str, available: Mapping[str, bytes]) -> str | None:
    """The coding of ``available`` that ``Accept-Encoding`` weighs highest (ties go by
    ``ENCODINGS``), or ``None`` for the plain script: none is accepted, or the header prefers
    ``identity``. A weight that is not a number counts as 0."""
    weights = _weights(accept_encoding)
    best: str | None = None
    best_weight = weights.get("identity", weights.get("*", 1.0))
    for coding in ENCODINGS:
        if coding not in available:
            continue
        weight = weights.get(coding, weights.get("*", 0.0))
        if weight > 0 and ((best is None and weight >= best_weight) or weight > best_weight):
            best, best_weight = coding, weight
    return best


def _weights(accept_encoding: str) -> dict[str, float]:
    weights: dict[str, float] = {}
    for part in accept_encoding.lower().split(","):
        coding, _, params = part.strip().partition(";")
        coding = coding.strip()
        if not coding:
            continue
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    weight = float(value.strip())
                except ValueError:
                    weight = 0.0
                if not 0.0 <= weight <= 1.0:
                    weight = 0.0
        weights[coding] = weight
    return weights


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


class BrowserBundle:
    """Serves the entry scripts and chunks of the ``dist/umd`` folders given (none: no routes)."""

    def __init__(self, folders: Sequence[Path], sources: SourceResolver) -> None:
        self.bundles = load_bundles(folders)
        self._chunks = chunk_index(self.bundles)
        self._sources = sources

    def routes(self) -> list[Route]:
        """Each client's entry script route and a route for each of its chunk prefixes."""
        routes = [
            Route(
                bundle.client.entry_route,
                self._entry_of(bundle.entry),
                methods=["GET", "HEAD"],
            )
            for bundle in self.bundles
        ]
        routes += [
            Route(prefix + "{name}", self._chunks_of(chunks), methods=["GET", "HEAD"])
            for prefix, chunks in self._chunks.items()
        ]
        return routes

    def _entry_of(self, entry: ScriptFile) -> Endpoint:
        async def serve(request: Request) -> Response:
            try:
                self._sources.resolve(request.path_params["write_key"])
            except AuthenticationError:
                return error_reply(404, "not_found", "no source has this write key")
            return script_reply(request, entry)

        return serve

    @staticmethod
    def _chunks_of(chunks: Mapping[str, ScriptFile]) -> Endpoint:
        async def serve(request: Request) -> Response:
            script = chunks.get(request.path_params["name"])
            if script is None:
                return error_reply(404, "not_found", "no such script")
            return script_reply(request, script)

        return serve


def browser_snippets(
    folders: Sequence[Path], write_key: str, origin: str
) -> list[tuple[BrowserClient, str]]:
    """The snippet of each client whose folder is given, its URLs pointed at ``origin``."""
    makers = {CUSTOMERIO: snippet, SEGMENT: segment_snippet}
    return [
        (bundle.client, makers[bundle.client](write_key, origin))
        for bundle in load_bundles(folders)
    ]


def snippet(write_key: str, origin: str) -> str:
    """The standard Customer.io Data Pipelines snippet, its host pointed at ``origin``."""
    return SNIPPET.replace("{origin}", origin).replace("{write_key}", write_key)


def segment_snippet(write_key: str, origin: str) -> str:
    """Segment's standard snippet, its script and CDN (``analytics._cdn``) pointed at ``origin``.

    The CDN must be set: Segment's script finds it from its own URL only over https.
    """
    return SEGMENT_SNIPPET.replace("{origin}", origin).replace("{write_key}", write_key)


SNIPPET: Final = """<script>
  !function(){var i="cioanalytics",analytics=(window[i]=window[i]||[]);if(!analytics.initialize)if(analytics.invoked)window.console&&console.error&&console.error("Snippet included twice.");else{analytics.invoked=!0;analytics.methods=["trackSubmit","trackClick","trackLink","trackForm","pageview","identify","reset","group","track","ready","alias","debug","page","once","off","on","addSourceMiddleware","addIntegrationMiddleware","setAnonymousId","addDestinationMiddleware"];analytics.factory=function(e){return function(){var t=Array.prototype.slice.call(arguments);t.unshift(e);analytics.push(t);return analytics}};for(var e=0;e<analytics.methods.length;e++){var key=analytics.methods[e];analytics[key]=analytics.factory(key)}analytics.load=function(key,e){var t=document.createElement("script");t.type="text/javascript";t.async=!0;t.setAttribute("data-global-customerio-analytics-key",i);t.src="{origin}/v1/analytics-js/snippet/"+key+"/analytics.min.js";var n=document.getElementsByTagName("script")[0];n.parentNode.insertBefore(t,n);analytics._writeKey=key;analytics._loadOptions=e};analytics.SNIPPET_VERSION="4.15.3";
    analytics.load("{write_key}");
    analytics.page();
  }}();
</script>"""  # noqa: E501

SEGMENT_SNIPPET: Final = """<script>
  !function(){var i="analytics",analytics=window[i]=window[i]||[];if(!analytics.initialize)if(analytics.invoked)window.console&&console.error&&console.error("Segment snippet included twice.");else{analytics.invoked=!0;analytics.methods=["trackSubmit","trackClick","trackLink","trackForm","pageview","identify","reset","group","track","ready","alias","debug","page","screen","once","off","on","addSourceMiddleware","addIntegrationMiddleware","setAnonymousId","addDestinationMiddleware","register"];analytics.factory=function(e){return function(){if(window[i].initialized)return window[i][e].apply(window[i],arguments);var n=Array.prototype.slice.call(arguments);if(["track","screen","alias","group","page","identify"].indexOf(e)>-1){var c=document.querySelector("link[rel='canonical']");n.push({__t:"bpc",c:c&&c.getAttribute("href")||void 0,p:location.pathname,u:location.href,s:location.search,t:document.title,r:document.referrer})}n.unshift(e);analytics.push(n);return analytics}};for(var n=0;n<analytics.methods.length;n++){var key=analytics.methods[n];analytics[key]=analytics.factory(key)}analytics.load=function(key,n){var t=document.createElement("script");t.type="text/javascript";t.async=!0;t.setAttribute("data-global-segment-analytics-key",i);t.src="{origin}/analytics.js/v1/" + key + "/analytics.min.js";var r=document.getElementsByTagName("script")[0];r.parentNode.insertBefore(t,r);analytics._loadOptions=n};analytics._writeKey="{write_key}";analytics._cdn="{origin}";analytics.SNIPPET_VERSION="5.2.0";
    analytics.load("{write_key}");
    analytics.page();
  }}();
</script>"""  # noqa: E501
