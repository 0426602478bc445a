"""Malformed query parameters: the pure reader, and a 400 naming each on every read route."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from audience.errors import QueryError
from audience.http.query_params import QueryReader
from audience.paging import decode_cursor, encode_cursor
from support.served_app import ServedApp, serve_app


def problems(items: list[tuple[str, str]], read: str) -> list[tuple[str, str]]:
    reader = QueryReader(items)
    if read == "limit":
        reader.integer("limit", default=10, minimum=1, maximum=1000)
    elif read == "type":
        reader.choice("type", ("track", "page"))
    elif read == "text":
        reader.text("userId")
    elif read == "cursor":
        reader.cursor("before", lambda text: decode_cursor(text, (int,)))
    with pytest.raises(QueryError) as raised:
        reader.finish()
    return [(problem.field, problem.reason) for problem in raised.value.problems]


@pytest.mark.parametrize(
    ("items", "read", "reason"),
    [
        ([("limit", "²")], "limit", "must be a whole number from 1 to 1000"),
        ([("limit", "٣")], "limit", "must be a whole number from 1 to 1000"),
        ([("limit", "1" * 25)], "limit", "must be a whole number from 1 to 1000"),
        ([("limit", "0")], "limit", "must be a whole number from 1 to 1000"),
        ([("limit", "-1")], "limit", "must be a whole number from 1 to 1000"),
        ([("limit", " 5")], "limit", "must be a whole number from 1 to 1000"),
        ([("limit", "")], "limit", "must be a whole number from 1 to 1000"),
        ([("limit", "5"), ("limit", "6")], "limit", "is given more than once"),
        ([("type", "TRACK")], "type", "must be one of track, page"),
        ([("userId", "a\x00b")], "text", "contains a NUL character"),
        ([("userId", "x" * 10_001)], "text", "is longer than 10000 characters"),
        ([("before", "not-a-cursor")], "cursor", "is not a cursor this list gave"),
        ([("before", encode_cursor(("text",)))], "cursor", "is not a cursor this list gave"),
        ([("before", encode_cursor((-1,)))], "cursor", "is not a cursor this list gave"),
        (
            [("before", "WzE4NDQ2NzQ0MDczNzA5NTUxNjE2XQ")],
            "cursor",
            "is not a cursor this list gave",
        ),
    ],
)
def test_a_malformed_parameter_is_named_with_its_reason(
    items: list[tuple[str, str]], read: str, reason: str
) -> None:
    [(field, found)] = problems(items, read)
    assert field == items[0][0]
    assert found.startswith(reason)


def test_every_problem_of_a_query_is_named_at_once() -> None:
    reader = QueryReader([("limit", "x"), ("type", "nope"), ("before", "1"), ("after", "2")])
    reader.integer("limit", default=1, minimum=1, maximum=5)
    reader.choice("type", ("track",))
    reader.exclusive("before", "after")
    with pytest.raises(QueryError) as raised:
        reader.finish()
    assert [problem.field for problem in raised.value.problems] == ["limit", "type", "after"]


def test_good_parameters_are_read_and_absent_ones_take_their_defaults() -> None:
    cursor = encode_cursor(("2026-11-29T10:00:00Z", 42))
    reader = QueryReader([("limit", "0007"), ("type", "page"), ("after", cursor)])
    assert reader.integer("limit", default=1, minimum=1, maximum=1000) == 7
    assert reader.integer("other", default=3, minimum=1, maximum=5) == 3
    assert reader.choice("type", ("track", "page")) == "page"
    assert reader.cursor("after", lambda text: decode_cursor(text, (str, int))) == (
        "2026-11-29T10:00:00Z",
        42,
    )
    assert reader.text("userId") is None
    reader.finish()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApp]:
    with serve_app(tmp_path_factory.mktemp("queries") / "data") as running:
        running.send({"type": "identify", "userId": "u1", "anonymousId": "a1"})
        running.resolved()
        yield running


def profile_id(served: ServedApp) -> str:
    found = served.admin.get("/api/profiles/lookup", params={"userId": "u1"}).json()
    return str(found["profile"]["id"])


BAD_QUERIES = [
    ("/api/events", "limit=%C2%B2", "limit"),
    ("/api/events", "limit=0", "limit"),
    ("/api/events", "limit=1001", "limit"),
    ("/api/events", "limit=1&limit=2", "limit"),
    ("/api/events", "type=nope", "type"),
    ("/api/events", "userId=%00", "userId"),
    ("/api/events", "source=a%00", "source"),
    ("/api/events", "before=1234567890123456789012345", "before"),
    ("/api/events", "before=WzFd&after=WzFd", "after"),
    ("/api/events", "after=%FF%FE", "after"),
    ("/api/profiles", "limit=%C2%B2", "limit"),
    ("/api/profiles", "query=%00", "query"),
    ("/api/profiles/lookup", "", "userId"),
    ("/api/profiles/lookup", "userId=u1&email=a%40b.c", "email"),
    ("/api/profiles/lookup", "userId=%00", "userId"),
    ("/api/profiles/{id}/events", "limit=%C2%B2", "limit"),
    ("/api/profiles/{id}/events", "offset=1234567890123456789012345", "offset"),
    ("/api/profiles/{id}/events", "after=WzFd", "after"),
    ("/api/profiles/{id}/events", "before=%22", "before"),
    ("/live/events", "after=%C2%B2", "after"),
    ("/live/events", "after=1234567890123456789012345", "after"),
]


@pytest.mark.parametrize(("path", "query", "field"), BAD_QUERIES)
def test_a_malformed_query_on_an_api_route_gets_400_naming_the_parameter(
    served: ServedApp, path: str, query: str, field: str
) -> None:
    url = path.replace("{id}", profile_id(served)) + (f"?{query}" if query else "")
    response = served.admin.get(url)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "invalid_query"
    assert [problem["field"] for problem in body["errors"]] == [field]
    assert body["meta"]["errors"] == [f"{field}: {body['errors'][0]['reason']}"]
    assert body["message"] == body["meta"]["errors"][0]


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("/profiles", "query=%00", "query"),
        ("/profiles", "query=a&query=b", "query"),
        ("/profiles/{id}", "after=garbage", "after"),
        ("/profiles/{id}", "before=WzFd&after=WzFd", "after"),
    ],
)
def test_a_malformed_query_on_a_page_gets_a_400_page_naming_the_parameter(
    served: ServedApp, path: str, query: str, field: str
) -> None:
    response = served.admin.get(path.replace("{id}", profile_id(served)) + f"?{query}")
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert f"<code>{field}</code>" in response.text
    assert "Content-Security-Policy" in response.headers


@pytest.mark.parametrize("path", ["/api/profiles/a%00b", "/api/profiles/a%00b/events"])
def test_a_profile_id_no_store_can_hold_is_simply_not_found(served: ServedApp, path: str) -> None:
    assert served.admin.get(path).status_code == 404


def test_an_empty_identifier_is_looked_up_and_not_found(served: ServedApp) -> None:
    assert served.admin.get("/api/profiles/lookup?userId=").status_code == 404


def test_good_queries_still_answer(served: ServedApp) -> None:
    pid = profile_id(served)
    for url in (
        "/api/events?limit=1000&type=identify&userId=u1",
        f"/api/profiles/{pid}/events?limit=1",
        "/api/profiles?query=u&limit=1000",
        "/live/events?after=0",
        f"/profiles/{pid}",
        "/profiles?query=u1",
    ):
        assert served.admin.get(url).status_code == 200, url
