"""Regulations through the application ``audience serve`` builds, on SQLite and PostgreSQL: the
HTTP API, suppression at ingest, deleting a person's whole journey, and semantic events."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import psycopg

from audience.destinations.backend import open_delivery_store
from audience.destinations.base import DestinationConfig
from privacy.conftest import WRITE_KEY, Served
from support import Receiver, wait_for

ADA = "ada-lovelace-1815"


def message(n: int, kind: str = "track", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": kind, "messageId": f"m-{n}", **fields}
    if kind == "track":
        body.setdefault("event", "Clicked")
    return body


def journey() -> list[dict[str, Any]]:
    """Anonymous browsing, sign-in, a reset and sign-in again, then a second device; and Bob."""
    return [
        message(1, "page", anonymousId="laptop-anon"),
        message(2, anonymousId="laptop-anon", event="Added to Cart"),
        message(
            3,
            "identify",
            anonymousId="laptop-anon",
            userId=ADA,
            traits={"email": "ada@example.com", "favourite": "difference-engine"},
        ),
        message(4, anonymousId="laptop-anon", userId=ADA, event="Order Completed"),
        message(5, "page", anonymousId="laptop-after-reset"),
        message(6, "identify", anonymousId="laptop-after-reset", userId=ADA),
        message(7, "page", anonymousId="phone-anon"),
        message(8, "identify", anonymousId="phone-anon", userId=ADA),
        message(9, "identify", anonymousId="bob-anon", userId="bob", traits={"plan": "x"}),
    ]


def test_a_bad_request_gets_400_naming_the_field(served: Served) -> None:
    response = served.admin.post(
        "/api/regulations",
        json={"regulationType": "SUPPRESS", "subjectType": "USER_ID", "subjectIds": [" "]},
    )
    assert response.status_code == 400
    assert response.json()["meta"]["errors"] == [
        "subjectIds[0]: is blank or a placeholder no one is known by"
    ]
    broken = served.admin.post("/api/regulations", content=b"{nope")
    assert broken.status_code == 400
    assert broken.json()["meta"]["errors"][0].startswith("body: is not JSON")


def test_regulations_need_the_admin_token(served: Served) -> None:
    assert served.tracking.get("/api/regulations").status_code == 401
    assert served.admin.get("/api/regulations/reg_unknown").status_code == 404


def test_a_suppressed_persons_events_are_dropped_and_counted_until_unsuppressed(
    served: Served,
) -> None:
    served.send(message(1, "identify", userId=ADA, anonymousId="laptop-anon"))
    served.admin.wait_until_resolved()
    suppressed = served.regulate("SUPPRESS", "USER_ID", ADA)
    assert suppressed["status"] == "FINISHED"
    assert suppressed["progress"] == [
        {"name": "resolve", "state": "done", "count": 2},
        {"name": "suppress", "state": "done", "count": 2},
    ]
    assert ADA not in str(suppressed)
    assert served.send(message(2, anonymousId="laptop-anon")) == {}, "no fault of the sender"
    served.send(message(3, userId=ADA), message(4, userId="bob"))
    assert [e["messageId"] for e in served.stored()] == ["m-4", "m-1"]
    stats = served.admin.get("/api/stats").json()
    assert stats["dropped"]["web"]["suppressed"] == 2
    metrics = served.admin.get("/metrics").text
    assert 'audience_events_dropped_total{reason="suppressed",source="web"} 2' in metrics

    served.regulate("UNSUPPRESS", "ANONYMOUS_ID", "laptop-anon")
    served.send(message(5, userId=ADA))
    assert "m-5" in [e["messageId"] for e in served.stored()]


def test_a_new_anonymous_id_seen_beside_a_suppressed_one_is_suppressed_too(
    served: Served,
) -> None:
    """A browser's fresh anonymous id is accepted until an event ties it to the person."""
    served.regulate("SUPPRESS", "USER_ID", ADA)
    served.send(message(1, "page", anonymousId="fresh-anon"))
    served.send(message(2, "identify", anonymousId="fresh-anon", userId=ADA))

    def second_dropped() -> bool:
        served.send(message(3, "page", anonymousId="fresh-anon"))
        return True

    wait_for(second_dropped)
    assert [e["messageId"] for e in served.stored()] == ["m-1"]


def test_the_whole_journey_goes_when_deleted_by_one_anonymous_id(served: Served) -> None:
    served.send(*journey())
    served.admin.wait_until_resolved()
    deleted = served.regulate("SUPPRESS_WITH_DELETE", "ANONYMOUS_ID", "phone-anon")
    assert deleted["status"] == "FINISHED", deleted
    progress = {step["name"]: step["count"] for step in deleted["progress"]}
    assert progress["resolve"] == 4
    assert progress["events"] == 8
    assert [e["userId"] for e in served.stored()] == ["bob"]
    for identifier in (
        {"userId": ADA},
        {"anonymousId": "laptop-anon"},
        {"anonymousId": "laptop-after-reset"},
        {"anonymousId": "phone-anon"},
    ):
        assert served.admin.profile(**identifier) is None
    assert served.admin.profile(userId="bob") is not None
    served.send(message(20, anonymousId="laptop-anon"))
    assert [e["userId"] for e in served.stored()] == ["bob"], "still suppressed"
    listed = served.admin.get("/api/regulations").json()
    assert [r["id"] for r in listed["regulations"]] == [deleted["id"]]


def test_a_semantic_delete_person_event_deletes_the_person_it_identifies(served: Served) -> None:
    served.send(*journey())
    served.admin.wait_until_resolved()
    served.send(message(30, userId=ADA, event="Delete Person"))
    regulation = wait_for(
        lambda: served.admin.get("/api/regulations").json()["regulations"],
        what="the semantic event to be taken as a request",
    )[0]
    assert regulation["requestedBy"] == {"kind": "semantic_event", "source": "web"}
    assert served.ended(regulation["id"])["status"] == "FINISHED"
    assert [e["userId"] for e in served.stored()] == ["bob"]
    stats = served.admin.get("/api/stats").json()
    assert stats["dropped"]["web"]["privacy_request"] == 1


def test_a_person_sending_all_through_their_deletion_leaves_no_trace(served: Served) -> None:
    """Suppressed first, deleted, then deleted once more: nothing sent during it survives."""
    stop = threading.Event()
    sent = {"ada": 0, "bob": 0}

    def sender() -> None:
        with httpx.Client(base_url=served.url, auth=(WRITE_KEY, ""), timeout=60) as client:
            n = 0
            while not stop.is_set():
                n += 1
                batch = [
                    message(1000 + n, anonymousId="ada-anon", event="Scrolled"),
                    message(
                        100_000 + n,
                        "identify",
                        anonymousId="ada-anon",
                        userId=ADA,
                        traits={"favourite": "difference-engine"},
                    ),
                    message(200_000 + n, userId="bob"),
                ]
                assert client.post("/v1/batch", json={"batch": batch}).status_code == 200
                sent["ada"] += 2
                sent["bob"] += 1

    thread = threading.Thread(target=sender)
    thread.start()
    try:
        wait_for(lambda: sent["ada"] >= 20, what="the sender to get going")
        served.admin.wait_until_resolved()
        deleted = served.regulate("SUPPRESS_WITH_DELETE", "USER_ID", ADA)
        assert deleted["status"] == "FINISHED", deleted
        after = sent["bob"]
        wait_for(lambda: sent["bob"] >= after + 10, what="more sending after the deletion")
    finally:
        stop.set()
        thread.join()
    served.admin.wait_until_resolved()
    stored = served.admin.get("/api/events", params={"limit": "1000", "userId": ADA}).json()
    assert stored["events"] == []
    anonymous = served.admin.get(
        "/api/events", params={"limit": "1000", "anonymousId": "ada-anon"}
    ).json()
    assert anonymous["events"] == []
    assert served.admin.profile(userId=ADA) is None
    assert served.admin.profile(anonymousId="ada-anon") is None
    assert served.admin.profile(userId="bob") is not None


def test_nothing_of_a_deleted_person_is_left_in_the_databases(served: Served) -> None:
    """The raw SQLite files (WAL included), or every PostgreSQL table once vacuumed."""
    served.send(*journey())
    served.admin.wait_until_resolved()
    assert served.regulate("SUPPRESS_WITH_DELETE", "USER_ID", ADA)["status"] == "FINISHED"
    values = (ADA, "laptop-anon", "phone-anon", "ada@example.com", "difference-engine")
    if served.settings.database_url is None:
        folder = served.settings.data_dir
        contents = b"".join(p.read_bytes() for p in folder.iterdir() if ".sqlite3" in p.name)
        for value in values:
            assert value.encode() not in contents
        assert b"bob-anon" in contents
        return
    with psycopg.connect(served.settings.database_url, autocommit=True) as connection:
        tables = [
            str(row[0])
            for row in connection.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema()"
            ).fetchall()
        ]
        text = " ".join(
            str(row)
            for table in tables
            for row in connection.execute(f'SELECT t::text FROM "{table}" t').fetchall()
        )
        text += " ".join(
            str(row[0])
            for row in connection.execute(
                "SELECT convert_from(message, 'UTF8') FROM events"
            ).fetchall()
        )
    for value in values:
        assert value not in text
    assert "bob-anon" in text


def test_a_deletion_reports_each_destination_and_notifies_the_webhook(served: Served) -> None:
    receiver = Receiver()
    receiver.start()
    try:
        deliveries = open_delivery_store(served.settings)
        try:
            hook = DestinationConfig("hook", "webhook", {"url": receiver.url, "secret": "k" * 32})
            deliveries.add(hook, 0, now=time.time())
        finally:
            deliveries.close()
        served.send(*journey())
        served.admin.wait_until_resolved()
        deleted = served.regulate("DELETE_ONLY", "USER_ID", ADA)
        assert deleted["status"] == "FINISHED", deleted
        (step,) = [s for s in deleted["progress"] if s["name"] == "destinations"]
        assert step == {"name": "destinations", "state": "done", "count": 1, "detail": {"hook": 1}}
        notices = [m for r in receiver.requests for m in r.batch if m["type"] == "delete"]
        assert [n["messageId"] for n in notices] == [deleted["id"]]
        assert notices[0]["context"]["identifiers"]["userIds"] == [ADA]
    finally:
        receiver.stop()
