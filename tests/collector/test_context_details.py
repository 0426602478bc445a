"""Enrichment at ingest: user agents read into browser, OS and device, bots, GeoIP locations."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from collector_support import ADMIN_TOKEN, WRITE_KEY
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from audience.collector.context_details import ContextDetails
from audience.collector.geolocation import MaxMindGeolocator
from audience.storage.sqlite_events import SqliteEventStore
from support import AudienceServer
from support.audience_server import audience_command

CHROME_ON_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
SAFARI_ON_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
LONDON = "81.2.69.160"
BOSTON = "2a02:cf40::1"


def write_geoip_database(path: Path) -> Path:
    """A small City database in MaxMind's format: a London network and a Boston one."""
    writer = MMDBWriter(ip_version=6, database_type="GeoLite2-City", ipv4_compatible=True)
    writer.insert_network(
        IPSet(["81.2.69.0/24"]),
        {
            "city": {"names": {"en": "London"}},
            "country": {"iso_code": "GB", "names": {"en": "United Kingdom"}},
            "subdivisions": [{"iso_code": "ENG", "names": {"en": "England"}}],
            "location": {"latitude": 51.5142, "longitude": -0.0931, "time_zone": "Europe/London"},
        },
    )
    writer.insert_network(
        IPSet(["2a02:cf40::/32"]),
        {
            "city": {"names": {"en": "Boston"}},
            "country": {"iso_code": "US", "names": {"en": "United States"}},
            "subdivisions": [{"iso_code": "MA", "names": {"en": "Massachusetts"}}],
            "location": {"latitude": 42.3601, "longitude": -71.0589},
        },
    )
    writer.to_db_file(str(path))
    return path


@pytest.fixture
def geoip_db(tmp_path: Path) -> Path:
    return write_geoip_database(tmp_path / "cities.mmdb")


def track(message_id: str, **context: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "event": "Viewed",
        "anonymousId": "anon-1",
        "messageId": message_id,
        "context": context,
    }


def stored(store: SqliteEventStore) -> dict[str, dict[str, Any]]:
    return {event.message["messageId"]: event.message for event in store.read_after(0, 1000)}


def send(client: httpx.Client, *messages: dict[str, Any]) -> httpx.Response:
    reply = client.post("/v1/batch", json={"batch": list(messages)}, auth=(WRITE_KEY, ""))
    assert reply.status_code == 200, reply.text
    return reply


def test_a_browser_event_gets_the_browser_os_and_device_its_user_agent_names(
    make_client: Callable[..., httpx.Client], store: SqliteEventStore
) -> None:
    client = make_client(parse_user_agents=True)
    send(client, track("m1", userAgent=CHROME_ON_WINDOWS), track("m2", userAgent=SAFARI_ON_IPHONE))
    context = stored(store)["m1"]["context"]
    assert context["browser"] == {"name": "Chrome", "version": "120.0.0"}
    assert context["os"] == {"name": "Windows", "version": "10"}
    assert context["device"] == {"type": "desktop"}
    assert "bot" not in context
    phone = stored(store)["m2"]["context"]
    assert phone["os"] == {"name": "iOS", "version": "17.1"}
    assert phone["device"] == {"type": "mobile", "manufacturer": "Apple", "model": "iPhone"}


def test_what_the_client_sent_in_its_context_is_kept_as_it_is(
    make_client: Callable[..., httpx.Client], store: SqliteEventStore
) -> None:
    client = make_client(parse_user_agents=True)
    mobile = {"name": "iOS", "version": "18.0"}
    device = {"id": "device-7", "type": "ios", "model": "iPhone16,1"}
    send(client, track("m1", userAgent=SAFARI_ON_IPHONE, os=mobile, device=device))
    context = stored(store)["m1"]["context"]
    assert context["os"] == mobile
    assert context["device"] == device
    assert context["browser"]["name"] == "Mobile Safari"


def test_nothing_is_added_to_the_context_unless_the_operator_turns_it_on(
    make_client: Callable[..., httpx.Client], store: SqliteEventStore
) -> None:
    client = make_client()
    send(client, track("m1", userAgent=GOOGLEBOT, ip=LONDON))
    context = stored(store)["m1"]["context"]
    assert set(context) == {"userAgent", "ip"}


def test_a_known_bot_is_marked_and_kept_unless_bots_are_dropped(
    make_client: Callable[..., httpx.Client], store: SqliteEventStore
) -> None:
    client = make_client(parse_user_agents=True)
    send(client, track("bot", userAgent=GOOGLEBOT))
    context = stored(store)["bot"]["context"]
    assert context["bot"] is True
    assert context["device"] == {"type": "bot"}


def test_with_bots_dropped_a_bots_events_are_left_out_counted_and_the_others_stored(
    make_client: Callable[..., httpx.Client], store: SqliteEventStore
) -> None:
    client = make_client(drop_bots=True)
    reply = send(
        client,
        track("person-1", userAgent=CHROME_ON_WINDOWS),
        track("bot-1", userAgent=GOOGLEBOT),
        track("person-2"),
        track("bot-2", userAgent=GOOGLEBOT),
    )
    assert reply.json() == {}
    assert set(stored(store)) == {"person-1", "person-2"}
    metrics = client.get("/metrics").text
    assert 'audience_events_dropped_total{source="default",reason="bot"} 2' in metrics


def test_in_strict_mode_a_bot_is_left_out_without_refusing_the_request(
    make_client: Callable[..., httpx.Client], store: SqliteEventStore
) -> None:
    client = make_client(drop_bots=True)
    reply = client.post(
        "/v1/batch?strict=true",
        json={"batch": [track("person"), track("bot", userAgent=GOOGLEBOT)]},
        auth=(WRITE_KEY, ""),
    )
    assert reply.status_code == 200, reply.text
    assert set(stored(store)) == {"person"}


def test_an_address_is_placed_by_the_geoip_database(
    make_client: Callable[..., httpx.Client], store: SqliteEventStore, geoip_db: Path
) -> None:
    client = make_client(geoip_db=geoip_db)
    send(client, track("london", ip=LONDON), track("boston", ip=BOSTON))
    assert stored(store)["london"]["context"]["location"] == {
        "city": "London",
        "region": "England",
        "country": "United Kingdom",
        "countryCode": "GB",
        "latitude": 51.5142,
        "longitude": -0.0931,
    }
    assert stored(store)["boston"]["context"]["location"]["city"] == "Boston"


def test_the_opt_out_address_private_addresses_and_unknown_ones_are_never_placed(
    make_client: Callable[..., httpx.Client], store: SqliteEventStore, geoip_db: Path
) -> None:
    client = make_client(geoip_db=geoip_db)
    send(
        client,
        track("opt-out", ip="0.0.0.0"),
        track("private", ip="10.1.2.3"),
        track("elsewhere", ip="8.8.8.8"),
        track("junk", ip="not an address"),
        track("given", ip=LONDON, location={"city": "Paris"}),
    )
    events = stored(store)
    for message_id in ("opt-out", "private", "elsewhere", "junk"):
        assert "location" not in events[message_id]["context"], message_id
    assert events["given"]["context"]["location"] == {"city": "Paris"}


def test_strange_user_agents_are_stored_without_details_and_never_refused(
    make_client: Callable[..., httpx.Client], store: SqliteEventStore
) -> None:
    client = make_client(parse_user_agents=True)
    send(
        client,
        track("long", userAgent="Mozilla/5.0 (" + "x" * 20_000),
        track("number", userAgent=42),
        track("empty", userAgent=""),
        track("unicode", userAgent="\u202e\U0001f600 agent/1.0"),
    )
    events = stored(store)
    assert set(events) == {"long", "number", "empty", "unicode"}
    assert events["number"]["context"] == {"userAgent": 42}


def test_a_shared_batch_context_is_enriched_in_each_message_alone(
    make_client: Callable[..., httpx.Client], store: SqliteEventStore
) -> None:
    client = make_client(parse_user_agents=True)
    body = {
        "batch": [track("a", userAgent=CHROME_ON_WINDOWS), {**track("b"), "context": {}}],
        "context": {"library": {"name": "analytics-node"}},
    }
    reply = client.post("/v1/batch", json=body, auth=(WRITE_KEY, ""))
    assert reply.status_code == 200
    assert "browser" in stored(store)["a"]["context"]
    assert "browser" not in stored(store)["b"]["context"]


def test_the_details_are_added_to_a_copy_of_the_context(geoip_db: Path) -> None:
    details = ContextDetails(user_agents=True, geolocator=MaxMindGeolocator(geoip_db))
    shared = {"userAgent": CHROME_ON_WINDOWS, "ip": LONDON}
    first: dict[str, Any] = {"context": shared}
    assert details.add(first) is False
    assert shared == {"userAgent": CHROME_ON_WINDOWS, "ip": LONDON}
    assert first["context"]["location"]["city"] == "London"
    details.close()


def test_serve_refuses_a_geoip_file_that_is_not_a_maxmind_database(tmp_path: Path) -> None:
    bogus = tmp_path / "cities.mmdb"
    bogus.write_bytes(b"not a database")
    data = str(tmp_path / "data")
    finished = subprocess.run(
        [*audience_command(), "serve", "--data", data, "--port", "0", "--geoip-db", str(bogus)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode != 0
    assert "geoip_db" in finished.stderr
    assert "is not a MaxMind database" in finished.stderr


def test_audience_serve_enriches_and_drops_bots_with_its_flags(
    tmp_path: Path, geoip_db: Path
) -> None:
    server = AudienceServer(
        tmp_path / "data",
        tmp_path / "serve.log",
        admin_token=ADMIN_TOKEN,
        sources={"default": WRITE_KEY},
        extra_args=["--parse-user-agents", "--geoip-db", str(geoip_db), "--drop-bots"],
    )
    with server, httpx.Client(base_url=server.url, timeout=30) as client:
        send(
            client,
            track("person", userAgent=CHROME_ON_WINDOWS, ip=LONDON),
            track("bot", userAgent=GOOGLEBOT, ip=LONDON),
        )
        send(client, track("after", userAgent=SAFARI_ON_IPHONE))
        with server.admin() as admin:
            found = admin.wait_for_message_ids("default", ["person", "after"])
            assert [event["messageId"] for event in admin.events("default")] == ["after", "person"]
        metrics = client.get("/metrics").text
    context = found["person"]["context"]
    assert context["browser"]["name"] == "Chrome"
    assert context["location"]["city"] == "London"
    assert 'audience_events_dropped_total{source="default",reason="bot"} 1' in metrics
