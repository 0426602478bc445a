"""Privacy: the time to delete one person among 1,000,000 events, and ingestion with 10,000
suppressed identifiers beside the same ingestion with none, in one run.

Deletion: an event store of ``--events`` events from 10,000 people (100 each, an anonymous id
and a user id apiece) and the profile store resolved from it; then one ``SUPPRESS_WITH_DELETE``
regulation by anonymous id runs to its end through the same runner ``serve`` uses (the wait for
the suppression to reach every process, a fixed ``SUPPRESSION_BOUND_SECONDS``, is left out and
printed apart). Beside it, its bound: one scan of the events table for the person's user id,
which the deletion cannot beat without an index.

Ingestion: the collector's ``Ingestor`` over the same messages, in rounds alternating no gate
and the suppression gate holding 10,000 suppressed identifiers (none of them the senders', so
each message is checked and kept): first validate, enrich and screen alone (where the gate's
cost shows), then with the commit to SQLite too; events per CPU second of this process (so
the machine's other load stays out of it), medians of six rounds each.

    .venv/bin/python bench/privacy.py [--events 1000000] [--ingest 50000] [--postgres URL]
    .venv/bin/python bench/privacy.py --ingest-only [--ingest 50000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from audience.clock import SystemClock, UuidFactory
from audience.collector.ingest import Ingestor, Submission
from audience.config import Settings
from audience.destinations.backend import open_delivery_store
from audience.identity.identifiers import Identifier
from audience.privacy.desk import RegulationDesk
from audience.privacy.regulations import (
    RegulationRequest,
    RegulationType,
    Requester,
    RequesterKind,
    SubjectType,
)
from audience.privacy.runner import RegulationRunner
from audience.privacy.suppression import SUPPRESSION_BOUND_SECONDS, PrivacyGate, SuppressionList
from audience.resolution.backend import open_profile_store
from audience.storage.backend import open_event_store
from audience.storage.base import EventFilter, EventRecord

PEOPLE = 10_000
CHUNK = 20_000


def record(n: int) -> EventRecord:
    person = n % PEOPLE
    message: dict[str, Any] = {
        "type": "identify" if n < PEOPLE else "track",
        "messageId": f"m-{n}",
        "anonymousId": f"anon-{person}",
        "userId": f"user-{person}",
        "timestamp": "2026-11-29T12:00:00.000Z",
        "receivedAt": "2026-11-29T12:00:00.000Z",
        "properties": {"sku": f"SKU-{n}", "price": 19.99},
    }
    if n >= PEOPLE:
        message["event"] = "Product Viewed"
    else:
        message["traits"] = {"email": f"person-{person}@example.com"}
    return EventRecord(
        "web",
        message["messageId"],
        message["type"],
        message["userId"],
        message["anonymousId"],
        message.get("event"),
        message["receivedAt"],
        message["timestamp"],
        None,
        orjson.dumps(message),
    )


def deletion(settings: Settings, events: int) -> None:
    with open_event_store(settings) as store:
        store.create_source("web", "BENCH_PRIVACY")
        started = time.perf_counter()
        for start in range(0, events, CHUNK):
            store.append([record(n) for n in range(start, min(events, start + CHUNK))]).result()
        print(f"stored {events:,} events in {time.perf_counter() - started:.1f} s")
        profiles = open_profile_store(settings)
        deliveries = open_delivery_store(settings)
        try:
            started = time.perf_counter()
            cursor = 0
            # PostgreSQL takes a lock per identifier of a batch: smaller batches there.
            apply_chunk = 1000 if settings.database_url else CHUNK
            while batch := store.read_after(cursor, apply_chunk):
                profiles.apply(batch)
                cursor = batch[-1].seq
            print(f"resolved them in {time.perf_counter() - started:.1f} s")
            clock, ids = SystemClock(), UuidFactory()
            desk = RegulationDesk(store, clock=clock, ids=ids)
            runner = RegulationRunner(
                store,
                profiles,
                deliveries,
                desk=desk,
                suppressions=SuppressionList(store, desk.secret),
                gate=None,
                clock=clock,
                owner="bench",
                settle_seconds=0.0,
                resolver_wait_seconds=0.0,
            )
            person = PEOPLE // 2
            scanned = 0
            for _ in range(2):  # the first warms the cache, as the deletion's own scan would
                started = time.perf_counter()
                scanned = len(store.recent(EventFilter(user_id=f"user-{person}"), events))
                bound = time.perf_counter() - started
            request = RegulationRequest(
                RegulationType.SUPPRESS_WITH_DELETE, SubjectType.ANONYMOUS_ID, (f"anon-{person}",)
            )
            started = time.perf_counter()
            regulation = desk.request(request, Requester(RequesterKind.CLI, "bench"))
            runner.run(regulation.id)
            took = time.perf_counter() - started
            ended = desk.get(regulation.id)
            assert ended is not None
            steps = ", ".join(f"{s.name} {s.count}" for s in ended.steps)
            print(
                f"delete one person ({scanned} events) among {events:,}: {took:.2f} s "
                f"[{ended.status.value}: {steps}]"
            )
            print(f"  bound, one scan of the events for their user id: {bound:.2f} s")
            print(
                f"  plus the fixed wait for every process to suppress them: "
                f"{SUPPRESSION_BOUND_SECONDS:.1f} s"
            )
            gone = profiles.lookup(Identifier("user_id", f"user-{person}"))
            assert gone is None, "the profile is deleted"
        finally:
            deliveries.close()
            profiles.close()


def ingestion(folder: Path, count: int) -> None:
    settings = Settings(data_dir=folder, synchronous="normal")
    with open_event_store(settings) as store:
        store.create_source("web", "BENCH_INGEST")
        desk = RegulationDesk(store, clock=SystemClock(), ids=UuidFactory())
        suppressions = SuppressionList(store, desk.secret)
        hashes = [suppressions.hash(Identifier("user_id", f"gone-{n}")) for n in range(10_000)]
        store.add_suppressions(hashes, "reg_bench", "2026-12-03T00:00:00.000Z")
        suppressions.refresh()
        assert suppressions.size == 10_000
        gated = Ingestor(
            store, clock=SystemClock(), ids=UuidFactory(), gate=PrivacyGate(suppressions)
        )
        plain = Ingestor(store, clock=SystemClock(), ids=UuidFactory())
        a, b = ("no gate", plain), ("10,000 suppressed", gated)
        rounds = [a, b, b, a] * 3  # ABBA blocks: drift and warm-up fall on both alike
        for committed in (False, True):
            rates: dict[str, list[float]] = {a[0]: [], b[0]: []}
            for number, (name, ingestor) in enumerate(rounds):
                batches = [
                    Submission("web", {"batch": messages(f"{committed}-{number}", start)})
                    for start in range(0, count, 100)
                ]
                started = time.process_time()  # CPU time: the machine's other load stays out
                for submission in batches:
                    prepared = ingestor.prepare(submission)
                    assert len(prepared.records) == 100
                    if committed:
                        ingestor.commit(prepared).result()
                rates[name].append(count / (time.process_time() - started))
            what = (
                "validate, enrich, screen and commit" if committed else "validate, enrich, screen"
            )
            for name, values in rates.items():
                print(
                    f"{what}, {name}: {statistics.median(values):,.0f} events per CPU second, "
                    "median "
                    f"(rounds {', '.join(f'{v:,.0f}' for v in values)})"
                )
            ratio = statistics.median(rates[b[0]]) / statistics.median(rates[a[0]])
            print(f"  with the gate: {ratio:.1%} of the rate without")


def messages(tag: str, start: int) -> list[dict[str, Any]]:
    return [
        {
            "type": "track",
            "event": "Viewed",
            "userId": f"u-{n % 5000}",
            "anonymousId": f"a-{n % 5000}",
            "messageId": f"r{tag}-{n}",
            "properties": {"n": n},
        }
        for n in range(start, start + 100)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--ingest", type=int, default=50_000)
    parser.add_argument("--postgres", default=None, help="Delete on this database instead.")
    parser.add_argument("--ingest-only", action="store_true", help="Only the ingestion figures.")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if options.ingest_only:
            ingestion(Path(folder) / "ingest", options.ingest)
            return
        settings = Settings(
            data_dir=Path(folder) / "delete", synchronous="normal", database_url=options.postgres
        )
        deletion(settings, options.events)
        ingestion(Path(folder) / "ingest", options.ingest)


if __name__ == "__main__":
    main()
