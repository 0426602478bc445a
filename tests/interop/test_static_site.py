"""The static site of the interop pages: placeholders filled, nothing outside its folders."""

from __future__ import annotations

import http.client
from pathlib import Path

import httpx

from interop.harness import StaticSite


def make_site(tmp_path: Path) -> StaticSite:
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "index.html").write_text('<script src="{{api_origin}}/x.js"></script>{{unknown}}')
    (pages / "app.js").write_text("const origin = '{{api_origin}}';")
    (pages / "settings.json").write_text('{"apiKey": "{{write_key}}"}')
    (tmp_path / "secret.txt").write_text("not served")
    return StaticSite(
        {"/": pages},
        {"api_origin": "http://127.0.0.1:9", "write_key": "wk_1"},
        {"/v1/projects/wk_1/settings": pages / "settings.json"},
    )


def test_pages_and_json_get_their_placeholders_filled_and_scripts_are_served_as_they_are(
    tmp_path: Path,
) -> None:
    with make_site(tmp_path) as site, httpx.Client() as http:
        page = http.get(site.url("/"))
        script = http.get(site.url("/app.js"))
        settings = http.get(site.url("/v1/projects/wk_1/settings"))
    assert site.origin.startswith("http://localhost:")
    assert page.text == '<script src="http://127.0.0.1:9/x.js"></script>{{unknown}}'
    assert page.headers["content-type"].startswith("text/html")
    assert script.text == "const origin = '{{api_origin}}';"
    assert settings.json() == {"apiKey": "wk_1"}


def raw_get(port: int, path: str) -> int:
    """The status of a GET sent with ``path`` exactly as written (no client normalisation)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


def test_paths_outside_the_mounted_folders_are_not_found(tmp_path: Path) -> None:
    with make_site(tmp_path) as site:
        statuses = [
            raw_get(site.port, "/../secret.txt"),
            raw_get(site.port, "/..%2fsecret.txt"),
            raw_get(site.port, "/nope.html"),
        ]
    assert statuses == [404, 404, 404]
    assert site.requests == ["/../secret.txt", "/..%2fsecret.txt", "/nope.html"]
