"""Cursor paging of ``/api/events`` and of a profile's events, on SQLite and on PostgreSQL.

The full application (collector, profile API, pages) is served on loopback over each store,
with the resolver in process; events go in through the tracking API and come back through the
admin API, page by page, following the cursors each reply gives.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.served_app import ServedApp, serve_app


@pytest.fixture(params=["sqlite", "postgres"])
def collector(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServedApp]:
    with serve_app(tmp_path / "data", request.param) as running:
        yield running


def tracks(count: int, user_id: str = "u1", start: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "type": "track",
            "userId": user_id,
            "event": "Step",
            "messageId": f"m-{user_id}-{start + n}",
            "properties": {"n": start + n},
            "timestamp": f"2026-11-29T10:{(start + n) // 60 % 60:02d}:{(start + n) % 60:02d}Z",
        }
        for n in range(count)
    ]


def numbers(events: list[dict[str, Any]]) -> list[int]:
    return [event["properties"]["n"] for event in events]


def test_every_stored_event_is_reached_by_following_next(collector: ServedApp) -> None:
    """Past the newest 1,000: each page continues where the last ended, newest first."""
    collector.send(*tracks(2500))
    pages = collector.walk("/api/events", limit="1000")
    assert [len(page["events"]) for page in pages] == [1000, 1000, 500]
    assert [n for page in pages for n in numbers(page["events"])] == list(range(2499, -1, -1))


def test_pages_neither_repeat_nor_skip_while_new_events_arrive(collector: ServedApp) -> None:
    collector.send(*tracks(30))
    first = collector.admin.get("/api/events", params={"limit": "10"}).json()
    collector.send(*tracks(25, start=30))
    rest = collector.walk("/api/events", limit="10", before=first["next"])
    older = [n for page in rest for n in numbers(page["events"])]
    assert numbers(first["events"]) + older == list(range(29, -1, -1))

    newer = collector.admin.get("/api/events", params={"after": first["previous"]}).json()
    assert numbers(newer["events"]) == list(range(54, 29, -1))


def test_after_walks_forward_through_new_events_in_pages_closest_first(
    collector: ServedApp,
) -> None:
    collector.send(*tracks(5))
    cursor = collector.admin.get("/api/events", params={"limit": "1"}).json()["previous"]
    collector.send(*tracks(12, start=5))
    seen: list[list[int]] = []
    for _ in range(5):
        page = collector.admin.get("/api/events", params={"after": cursor, "limit": "5"}).json()
        if not page["events"]:
            assert page["previous"] is None
            break
        seen.append(numbers(page["events"]))
        cursor = page["previous"]
    assert seen == [[9, 8, 7, 6, 5], [14, 13, 12, 11, 10], [16, 15]]


def test_filters_page_too_and_the_link_header_keeps_them(collector: ServedApp) -> None:
    collector.send(*tracks(7, "alice") + tracks(7, "bob"))
    response = collector.admin.get("/api/events", params={"userId": "bob", "limit": "3"})
    body = response.json()
    assert [event["userId"] for event in body["events"]] == ["bob"] * 3
    links = dict(
        (relation, target)
        for target, relation in re.findall(r'<([^>]+)>; rel="(\w+)"', response.headers["link"])
    )
    assert set(links) == {"next", "prev"}
    assert "userId=bob" in links["next"]
    assert "limit=3" in links["next"]
    following = collector.admin.get(links["next"]).json()
    assert numbers(following["events"]) == [3, 2, 1]
    assert [event["userId"] for event in following["events"]] == ["bob"] * 3
    last = collector.admin.get("/api/events", params={"userId": "bob", "before": following["next"]})
    assert numbers(last.json()["events"]) == [0]
    assert last.json()["next"] is None
    assert 'rel="next"' not in last.headers["link"]


def profile_events_path(collector: ServedApp, user_id: str) -> str:
    lookup = collector.admin.get("/api/profiles/lookup", params={"userId": user_id})
    assert lookup.status_code == 200, lookup.text
    return f"/api/profiles/{lookup.json()['profile']['id']}/events"


def test_every_event_of_a_profile_is_reached_in_time_order(collector: ServedApp) -> None:
    """Beyond the first 1,000, in time order, each once, even when sent out of order."""
    messages = tracks(2300)
    collector.send(*messages[1000:] + messages[:1000])
    collector.resolved()
    pages = collector.walk(profile_events_path(collector, "u1"), limit="1000")
    assert [len(page["events"]) for page in pages] == [1000, 1000, 300]
    events = [event for page in pages for event in page["events"]]
    assert numbers([event["message"] for event in events]) == list(range(2300))
    assert {event["linkedBy"]["value"] for event in events} == {"u1"}


def test_a_profile_page_goes_back_with_previous_and_late_events_find_their_place(
    collector: ServedApp,
) -> None:
    collector.send(*tracks(20, start=10))
    collector.resolved()
    path = profile_events_path(collector, "u1")
    first = collector.admin.get(path, params={"limit": "5"}).json()
    second = collector.admin.get(path, params={"limit": "5", "after": first["next"]}).json()
    assert numbers([e["message"] for e in second["events"]]) == [15, 16, 17, 18, 19]
    back = collector.admin.get(path, params={"limit": "5", "before": second["previous"]}).json()
    assert back["events"] == first["events"]

    collector.send(*tracks(3, start=0))  # happened earlier, arrived later
    collector.resolved()
    earlier = collector.admin.get(path, params={"before": first["previous"]}).json()
    assert numbers([e["message"] for e in earlier["events"]]) == [0, 1, 2]


def test_offset_is_refused_with_the_cursor_to_use_instead(collector: ServedApp) -> None:
    collector.send(*tracks(3))
    collector.resolved()
    response = collector.admin.get(profile_events_path(collector, "u1"), params={"offset": "1"})
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "offset", "reason": "is not supported: page with after= (the reply's next)"}
    ]


def test_the_journey_page_links_to_earlier_and_later_events(collector: ServedApp) -> None:
    collector.send(*tracks(1200))
    collector.resolved()
    path = profile_events_path(collector, "u1").removeprefix("/api").removesuffix("/events")
    first = collector.admin.get(path)
    assert first.status_code == 200
    assert "Showing 500 of 1200 events" in first.text
    assert 'rel="prev"' not in first.text
    later = re.search(r'rel="next" href="\?after=([^"]+)"', first.text)
    assert later is not None
    second = collector.admin.get(path, params={"after": later.group(1)})
    assert 'rel="prev"' in second.text
    assert 'rel="next"' in second.text
    assert "n&#34;: 500" in second.text
    assert "n&#34;: 499" not in second.text
