"""Relay events/s: stored events -> relay destination -> a real ``audience serve``, beside that
server's own ingest rate in the same run.

Run: .venv/bin/python bench/relay.py [--events N] [--batch-size N]

A receiving ``audience serve`` (the installed command, SQLite, resolver and dispatcher children
beside it) is started on loopback. First its ingest rate is measured as an SDK would load it:
one client posting gzipped ``/v1/batch`` requests of ``--batch-size`` events, one after the
other, until ``--events`` are stored. Then the same number of other events, committed to a
SQLite event store of their own, are relayed to it by one dispatcher (one relay destination,
batches of ``--batch-size``), and timed until the last batch is accepted. Both figures count
events the receiver committed (its replies leave only once the events are durable).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson

from audience.clock import SystemClock
from audience.destinations.base import DestinationConfig, DestinationPolicy
from audience.destinations.dispatcher import Dispatcher
from audience.destinations.sqlite_deliveries import SqliteDeliveryStore
from audience.storage import EventRecord, SqliteEventStore

WRITE_KEY = "bench-relay-write-key"
ADMIN_TOKEN = "bench-relay-admin-token-of-at-least-32-chars"
AUDIENCE = str(Path(sys.executable).with_name("audience"))


@contextlib.contextmanager
def receiving_server(folder: Path) -> Iterator[str]:
    """``audience serve`` on a free loopback port with the source ``relayed``; yields its URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDIENCE_")}
    env["AUDIENCE_ADMIN_TOKEN"] = ADMIN_TOKEN
    data = str(folder / "receiver")
    create = [AUDIENCE, "sources", "create", "relayed", "--write-key", WRITE_KEY, "--data", data]
    subprocess.run(create, env=env, check=True, capture_output=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with (folder / "receiver.log").open("wb") as log:
        process = subprocess.Popen(
            [AUDIENCE, "serve", "--data", data, "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            time.sleep(0.1)
        else:
            raise SystemExit("the receiving audience serve did not start")
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def message(prefix: str, n: int) -> dict[str, Any]:
    """A browser-like track of about 700 bytes, with traits in its context."""
    when = f"2026-11-29T12:{n // 60 % 60:02d}:{n % 60:02d}.000Z"
    return {
        "type": "track",
        "event": "Product Viewed",
        "messageId": f"{prefix}-{n}",
        "anonymousId": f"a-{n % 5000}",
        "userId": f"u-{n % 2000}",
        "timestamp": when,
        "receivedAt": when,
        "context": {
            "library": {"name": "analytics.js", "version": "next-1.70.0"},
            "page": {"path": "/shop", "url": "https://example.com/shop", "title": "Shop"},
            "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0",
            "traits": {"plan_id": "Paid, Tier 2"},
        },
        "properties": {"sku": f"SKU-{n % 300}", "price": 9.99, "currency": "EUR", "n": n},
    }


def ingest_rate(url: str, count: int, batch_size: int) -> float:
    """Events/s one client stores by posting gzipped batches to the collector at ``url``."""
    bodies = [
        gzip.compress(
            orjson.dumps(
                {"batch": [message("direct", n) for n in range(start, start + batch_size)]}
            )
        )
        for start in range(0, count, batch_size)
    ]
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    with httpx.Client(base_url=url, auth=(WRITE_KEY, ""), timeout=60) as client:
        started = time.perf_counter()
        for body in bodies:
            response = client.post("/v1/batch", content=body, headers=headers)
            response.raise_for_status()
        return count / (time.perf_counter() - started)


def fill(store: SqliteEventStore, count: int) -> None:
    for start in range(0, count, 2000):
        records = []
        for n in range(start, min(count, start + 2000)):
            item = message("relayed", n)
            records.append(
                EventRecord(
                    "web",
                    item["messageId"],
                    item["type"],
                    item["userId"],
                    item["anonymousId"],
                    item["event"],
                    item["receivedAt"],
                    item["timestamp"],
                    None,
                    orjson.dumps(item),
                )
            )
        store.append(records).result()


def relay_rate(folder: Path, url: str, count: int, batch_size: int) -> float:
    """Events/s one dispatcher relays from a store of ``count`` events to ``url``."""
    events = SqliteEventStore.open(folder / "events.sqlite3", synchronous="normal")
    state = SqliteDeliveryStore.open(folder / "destinations.sqlite3")
    try:
        fill(events, count)
        options = {"url": f"{url}/v1/batch", "write_key": WRITE_KEY}
        policy = DestinationPolicy(max_attempts=3, batch_size=batch_size)
        state.add(DestinationConfig("fwd", "relay", options, delivery=policy), 0, 0.0)
        dispatcher = Dispatcher(events, state, SystemClock())
        started = time.perf_counter()
        try:
            while dispatcher.step():
                pass
        finally:
            dispatcher.close()
        elapsed = time.perf_counter() - started
        stats = state.stats("fwd")
        if stats.delivered_events != count or stats.dead_events:
            raise SystemExit(f"only {stats.delivered_events} of {count} events relayed")
        return count / elapsed
    finally:
        state.close()
        events.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        with receiving_server(folder) as url:
            direct = ingest_rate(url, args.events, args.batch_size)
            relayed = relay_rate(folder, url, args.events, args.batch_size)
            admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            stored = httpx.get(f"{url}/api/stats", headers=admin).json()
    load = os.getloadavg()[0]
    print(f"{args.events} events each way, batches of {args.batch_size}, load average {load:.1f}")
    print(f"receiver's own ingest, one client:  {direct:>8,.0f} events/s")
    print(
        f"relay, one destination:              {relayed:>8,.0f} events/s  ({relayed / direct:.0%})"
    )
    print(f"receiver stats: {stored}")


if __name__ == "__main__":
    main()
