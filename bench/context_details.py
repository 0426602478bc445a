"""Enrichment at ingest: what reading user agents and placing addresses costs the collector.

Prepares the same browser batches (validation and the server's enrichment, no HTTP, no commit)
with the details off, with ``--parse-user-agents``, with ``--geoip-db`` and with both, in one run,
alternating the four so the machine's load falls on each alike. The visitors' user agents are drawn
from ``--agents`` distinct strings (a site sees a few hundred browsers), their addresses from the
networks of a generated City database of ``--networks`` entries.

    .venv/bin/python bench/context_details.py [--events 200000] [--agents 300] [--networks 50000]
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import sys
import tempfile
import time
from pathlib import Path

from mmdb_writer import MMDBWriter
from netaddr import IPSet

from audience.collector.context_details import ContextDetails
from audience.collector.geolocation import MaxMindGeolocator
from audience.collector.ingest import Ingestor, Submission
from audience.storage.sqlite_events import SqliteEventStore
from audience.testing import CountingIds, FakeClock

BATCH = 100
SYSTEMS = [
    "Windows NT 10.0; Win64; x64",
    "Macintosh; Intel Mac OS X 10_15_7",
    "X11; Linux x86_64",
    "Linux; Android 14; Pixel 8",
    "iPhone; CPU iPhone OS 17_1 like Mac OS X",
]


def user_agents(count: int, rng: random.Random) -> list[str]:
    agents = []
    for number in range(count):
        system = rng.choice(SYSTEMS)
        major = 100 + number % 60
        agents.append(
            f"Mozilla/5.0 ({system}) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/{major}.0.{number}.0 Safari/537.36"
        )
    return agents


def geoip_database(path: Path, networks: int) -> list[str]:
    """A City database of ``networks`` /24 networks; one address of each, to send from."""
    writer = MMDBWriter(ip_version=6, database_type="GeoLite2-City", ipv4_compatible=True)
    addresses = []
    for number in range(networks):
        base = ipaddress.IPv4Address("81.0.0.0") + number * 256
        writer.insert_network(
            IPSet([f"{base}/24"]),
            {
                "city": {"names": {"en": f"City {number}"}},
                "country": {"iso_code": "GB", "names": {"en": "United Kingdom"}},
                "location": {"latitude": 51.5, "longitude": -0.1},
            },
        )
        addresses.append(str(base + 7))
    writer.to_db_file(str(path))
    return addresses


def batches(count: int, agents: list[str], addresses: list[str], rng: random.Random) -> list[dict]:
    found = []
    for start in range(0, count, BATCH):
        found.append(
            {
                "batch": [
                    {
                        "type": "page",
                        "anonymousId": f"anon-{start + offset}",
                        "name": "Home",
                        "properties": {"path": "/", "url": "https://shop.example/"},
                        "context": {
                            "userAgent": rng.choice(agents),
                            "ip": rng.choice(addresses),
                            "library": {"name": "analytics.js", "version": "next-1.70.0"},
                            "page": {"path": "/", "url": "https://shop.example/"},
                        },
                    }
                    for offset in range(BATCH)
                ]
            }
        )
    return found


def rate(ingestor: Ingestor, work: list[dict]) -> float:
    started = time.perf_counter()
    for body in work:
        prepared = ingestor.prepare(Submission("default", body))
        assert len(prepared.records) == BATCH, prepared.rejections[:3]
    return len(work) * BATCH / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--agents", type=int, default=300)
    parser.add_argument("--networks", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="audience-bench-details-") as temporary:
        folder = Path(temporary)
        started = time.perf_counter()
        addresses = geoip_database(folder / "cities.mmdb", arguments.networks)
        print(
            f"City database of {arguments.networks:,} networks written in "
            f"{time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
        work = batches(
            arguments.events // arguments.rounds, user_agents(arguments.agents, rng), addresses, rng
        )
        geolocator = MaxMindGeolocator(folder / "cities.mmdb")
        with SqliteEventStore.open(folder / "events.sqlite3", synchronous="normal") as store:
            store.create_source("default", "BENCH")

            def ingestor(details: ContextDetails | None) -> Ingestor:
                return Ingestor(store, clock=FakeClock(), ids=CountingIds(), details=details)

            configurations = {
                "details off (the default)": ingestor(None),
                "--parse-user-agents": ingestor(ContextDetails(user_agents=True)),
                "--geoip-db": ingestor(ContextDetails(user_agents=False, geolocator=geolocator)),
                "both": ingestor(ContextDetails(user_agents=True, geolocator=geolocator)),
            }
            rate(configurations["both"], work[:20])  # warm the user-agent cache and the file
            totals = {name: 0.0 for name in configurations}
            for _ in range(arguments.rounds):
                for name, configured in configurations.items():
                    totals[name] += rate(configured, work)
    baseline = totals["details off (the default)"] / arguments.rounds
    print(
        f"prepare (validation and enrichment, no HTTP, no commit), {len(work) * BATCH:,} "
        f"events x {arguments.rounds} rounds, {arguments.agents} user agents:"
    )
    for name, total in totals.items():
        mean = total / arguments.rounds
        cost = (1 / mean - 1 / baseline) * 1e6
        print(
            f"  {name}: {mean:,.0f} events/s ({mean / baseline:.0%} of off; "
            f"{cost:+.1f} us an event)"
        )


if __name__ == "__main__":
    main()
