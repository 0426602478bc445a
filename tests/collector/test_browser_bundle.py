"""``--browser-bundle``: each client's scripts and chunks, served from the real npm packages."""

from __future__ import annotations

import gzip
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import brotli
import httpx
import pytest
from collector_support import WRITE_KEY

from audience.collector.bundle import (
    CLIENTS,
    CUSTOMERIO,
    IMMUTABLE_CACHE,
    SEGMENT,
    SHORT_CACHE,
    browser_snippets,
    choose_encoding,
    load_bundle,
)
from audience.config import load_settings
from audience.errors import ConfigError

NODE_MODULES = Path(__file__).resolve().parents[1] / "interop" / "js" / "node_modules"
CIO_BUNDLE = NODE_MODULES / "@customerio" / "cdp-analytics-browser" / "dist" / "umd"
SEGMENT_BUNDLE = NODE_MODULES / "@segment" / "analytics-next" / "dist" / "umd"
ENTRY_SCRIPTS = ("standalone.js", "index.js")
PLAIN = {"Accept-Encoding": "identity"}

MakeClient = Callable[..., httpx.Client]


def chunk_files(folder: Path) -> list[Path]:
    """The chunks a build can load: every script of the folder but its two entry scripts."""
    return [path for path in sorted(folder.glob("*.js")) if path.name not in ENTRY_SCRIPTS]


@pytest.fixture
def both(make_client: MakeClient) -> httpx.Client:
    return make_client(browser_bundle=(CIO_BUNDLE, SEGMENT_BUNDLE))


def test_each_folder_is_recognised_as_the_client_whose_build_it_holds() -> None:
    assert load_bundle(CIO_BUNDLE).client == CUSTOMERIO
    assert load_bundle(SEGMENT_BUNDLE).client == SEGMENT
    assert sorted(load_bundle(SEGMENT_BUNDLE).chunks) == [
        p.name for p in chunk_files(SEGMENT_BUNDLE)
    ]


def test_a_folder_without_a_client_build_is_refused_naming_the_folder_and_the_reason(
    tmp_path: Path, make_client: MakeClient
) -> None:
    (tmp_path / "empty").mkdir()
    other = tmp_path / "other"
    other.mkdir()
    (other / "standalone.js").write_text("console.log('some other library')")
    with pytest.raises(ConfigError, match=f"{tmp_path / 'empty'} has no standalone.js"):
        make_client(browser_bundle=(tmp_path / "empty",))
    with pytest.raises(ConfigError, match=f"{other}/standalone.js is not the build of"):
        make_client(browser_bundle=(other,))


def test_two_folders_of_one_client_are_refused(tmp_path: Path, make_client: MakeClient) -> None:
    copy = shutil.copytree(CIO_BUNDLE, tmp_path / "umd")
    with pytest.raises(ConfigError, match="both hold @customerio/cdp-analytics-browser"):
        make_client(browser_bundle=(CIO_BUNDLE, copy))


@pytest.mark.parametrize(
    ("folder", "path"),
    [
        (CIO_BUNDLE, f"/v1/analytics-js/snippet/{WRITE_KEY}/analytics.min.js"),
        (SEGMENT_BUNDLE, f"/analytics.js/v1/{WRITE_KEY}/analytics.min.js"),
    ],
)
def test_each_client_s_script_is_served_at_its_snippet_url_for_a_known_write_key(
    both: httpx.Client, folder: Path, path: str
) -> None:
    entry = both.get(path, headers=PLAIN)
    assert entry.status_code == 200
    assert entry.headers["content-type"] == "application/javascript; charset=utf-8"
    assert entry.headers["cache-control"] == SHORT_CACHE == "public, max-age=300"
    assert entry.headers["x-content-type-options"] == "nosniff"
    assert entry.content == (folder / "standalone.js").read_bytes()
    unknown = both.get(path.replace(WRITE_KEY, "nope"))
    assert unknown.status_code == 404
    assert unknown.json()["message"] == "no source has this write key"


@pytest.mark.parametrize(
    ("folder", "prefixes"),
    [
        (CIO_BUNDLE, ["/v1/analytics-js/", "/analytics-next/bundles/"]),
        (SEGMENT_BUNDLE, ["/analytics-next/bundles/", "/segment/analytics-next/bundles/"]),
    ],
)
def test_every_chunk_is_served_at_each_path_its_client_derives_from_its_cdn(
    both: httpx.Client, folder: Path, prefixes: list[str]
) -> None:
    chunks = chunk_files(folder)
    assert {"ajs-destination", "auto-track"} <= {path.name.split(".")[0] for path in chunks}
    for prefix in prefixes:
        for path in chunks:
            reply = both.get(prefix + path.name, headers=PLAIN)
            assert reply.status_code == 200, prefix + path.name
            assert reply.headers["content-type"] == "application/javascript; charset=utf-8"
            assert reply.content == path.read_bytes(), prefix + path.name


def test_chunks_named_by_their_content_hash_are_cached_for_a_year_and_others_briefly(
    both: httpx.Client,
) -> None:
    """A hashed name never changes content; an unhashed one changes when the package does."""
    hashed = next(p.name for p in chunk_files(SEGMENT_BUNDLE) if p.name.startswith("auto-track"))
    assert re.fullmatch(r"auto-track\.bundle\.[0-9a-f]{20}\.js", hashed)
    long_lived = both.get(f"/analytics-next/bundles/{hashed}")
    assert long_lived.headers["cache-control"] == IMMUTABLE_CACHE
    assert IMMUTABLE_CACHE == "public, max-age=31536000, immutable"
    assert both.get("/v1/analytics-js/auto-track.js").headers["cache-control"] == SHORT_CACHE


def test_browsers_accepting_gzip_get_the_packaged_twin_and_revalidate_with_its_etag(
    both: httpx.Client,
) -> None:
    path = "/v1/analytics-js/auto-track.js"
    plain = both.get(path, headers=PLAIN)
    with both.stream("GET", path, headers={"Accept-Encoding": "gzip, deflate"}) as zipped:
        raw = b"".join(zipped.iter_raw())
    assert zipped.headers["content-encoding"] == "gzip"
    assert raw == (CIO_BUNDLE / "auto-track.js.gz").read_bytes()
    assert gzip.decompress(raw) == plain.content
    for reply in (plain, zipped):
        assert "Accept-Encoding" in reply.headers["vary"].split(", ")
    assert zipped.headers["etag"] != plain.headers["etag"]
    for reply, encoding in ((plain, "identity"), (zipped, "gzip")):
        again = both.get(
            path, headers={"Accept-Encoding": encoding, "If-None-Match": reply.headers["etag"]}
        )
        assert (again.status_code, again.content) == (304, b"")
        assert again.headers["etag"] == reply.headers["etag"]
        assert again.headers["cache-control"] == SHORT_CACHE
    stale = both.get(path, headers={**PLAIN, "If-None-Match": '"0000"'})
    assert stale.status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        f"/v1/analytics-js/snippet/{WRITE_KEY}/analytics.min.js",
        f"/analytics.js/v1/{WRITE_KEY}/analytics.min.js",
        "/v1/analytics-js/auto-track.js",
        "/analytics-next/bundles/ajs-destination.bundle.js",
    ],
)
def test_browsers_accepting_brotli_get_each_script_in_brotli_with_an_etag_of_its_own(
    both: httpx.Client, path: str
) -> None:
    if path.endswith("ajs-destination.bundle.js"):
        name = next(p.name for p in chunk_files(SEGMENT_BUNDLE) if "ajs-destination" in p.name)
        path = path.replace("ajs-destination.bundle.js", name)
    plain = both.get(path, headers=PLAIN)
    with both.stream("GET", path, headers={"Accept-Encoding": "gzip, deflate, br"}) as reply:
        raw = b"".join(reply.iter_raw())
    assert reply.status_code == 200
    assert reply.headers["content-encoding"] == "br"
    assert brotli.decompress(raw) == plain.content
    assert len(raw) < len(plain.content) / 2
    assert reply.headers["etag"] not in (plain.headers["etag"], "")
    assert reply.headers["cache-control"] == plain.headers["cache-control"]
    again = both.get(
        path, headers={"Accept-Encoding": "br", "If-None-Match": reply.headers["etag"]}
    )
    assert (again.status_code, again.content) == (304, b"")
    other_form = both.get(path, headers={**PLAIN, "If-None-Match": reply.headers["etag"]})
    assert other_form.status_code == 200


def test_a_script_the_package_ships_no_twin_for_is_compressed_at_startup(
    tmp_path: Path, make_client: MakeClient
) -> None:
    folder = shutil.copytree(CIO_BUNDLE, tmp_path / "umd")
    (folder / "auto-track.js.gz").unlink()
    client = make_client(browser_bundle=(folder,))
    with client.stream(
        "GET", "/v1/analytics-js/auto-track.js", headers={"Accept-Encoding": "gzip"}
    ) as reply:
        raw = b"".join(reply.iter_raw())
    assert reply.headers["content-encoding"] == "gzip"
    assert gzip.decompress(raw) == (folder / "auto-track.js").read_bytes()


def test_a_gzip_twin_that_is_not_its_script_compressed_is_never_served(
    tmp_path: Path, make_client: MakeClient
) -> None:
    folder = shutil.copytree(CIO_BUNDLE, tmp_path / "umd")
    (folder / "auto-track.js.gz").write_bytes(gzip.compress(b"console.log('stale')"))
    client = make_client(browser_bundle=(folder,))
    with client.stream(
        "GET", "/v1/analytics-js/auto-track.js", headers={"Accept-Encoding": "gzip"}
    ) as reply:
        raw = b"".join(reply.iter_raw())
    assert reply.headers["content-encoding"] == "gzip"
    assert gzip.decompress(raw) == (folder / "auto-track.js").read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "/v1/analytics-js/standalone.js",
        "/v1/analytics-js/index.js",
        "/analytics-next/bundles/standalone.js",
        "/v1/analytics-js/auto-track.js.gz",
        "/v1/analytics-js/auto-track.js.map",
        "/analytics-next/bundles/index.js.map",
        "/v1/analytics-js/..%2F..%2Fpackage.json",
        "/analytics-next/bundles/..%2F..%2Fpackage.json",
        "/segment/analytics-next/bundles/auto-track.js",
        "/v1/analytics-js/nope.js",
    ],
)
def test_anything_but_an_entry_script_or_a_chunk_of_its_client_is_not_found(
    both: httpx.Client, path: str
) -> None:
    assert both.get(path).status_code == 404


def test_without_a_bundle_no_script_is_served(client: httpx.Client) -> None:
    assert client.get(f"/v1/analytics-js/snippet/{WRITE_KEY}/analytics.min.js").status_code == 404
    assert client.get("/v1/analytics-js/auto-track.js").status_code == 404
    assert client.get(f"/analytics.js/v1/{WRITE_KEY}/analytics.min.js").status_code == 404


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        ("gzip, deflate, br, zstd", "br"),
        ("gzip, deflate", "gzip"),
        ("br;q=1.0, gzip;q=0.8", "br"),
        ("br;q=0.5, gzip", "gzip"),
        ("*", "br"),
        ("gzip;q=0", None),
        ("gzip;q=0.5, identity", None),
        ("identity", None),
        ("", None),
        ("gzip;q=nonsense", None),
        ("gzip;q=2", None),
    ],
)
def test_the_coding_sent_is_the_one_accept_encoding_weighs_highest(
    header: str, chosen: str | None
) -> None:
    assert choose_encoding(header, {"br": b"", "gzip": b""}) == chosen


def test_the_printed_snippets_load_each_client_from_this_server() -> None:
    snippets = dict(browser_snippets((SEGMENT_BUNDLE, CIO_BUNDLE), "wk_1", "https://cdp.example"))
    assert list(snippets) == [SEGMENT, CUSTOMERIO]
    segment = snippets[SEGMENT]
    assert 't.src="https://cdp.example/analytics.js/v1/" + key + "/analytics.min.js"' in segment
    assert 'analytics._cdn="https://cdp.example"' in segment
    assert 'analytics.load("wk_1")' in segment
    customerio = snippets[CUSTOMERIO]
    assert 't.src="https://cdp.example/v1/analytics-js/snippet/"+key+"/analytics.min.js"' in (
        customerio
    )
    assert 'analytics.load("wk_1")' in customerio


def test_the_bundle_setting_takes_comma_separated_folders_from_the_environment() -> None:
    settings = load_settings(env={"AUDIENCE_BROWSER_BUNDLE": f"{CIO_BUNDLE}, {SEGMENT_BUNDLE},"})
    assert settings.browser_bundle == (CIO_BUNDLE, SEGMENT_BUNDLE)
    assert load_settings(env={}).browser_bundle == ()


def test_the_openapi_document_describes_every_script_route(both: httpx.Client) -> None:
    paths = both.get("/openapi.json").json()["paths"]
    routes = [client.entry_route for client in CLIENTS]
    routes += [prefix + "{name}" for client in CLIENTS for prefix in client.chunk_prefixes]
    for route in routes:
        assert paths[route]["get"]["tags"] == ["browser"], route
