"""Supervised children under load: recovery after kill -9, ingestion latency meanwhile, stop time.

One ``audience serve`` on SQLite (``synchronous=FULL``) with a webhook destination pointing at a
loopback receiver; four sender threads post batches of 50 track events without pause for the
whole run. Printed, each beside its bound or the figure of the same run it compares with:

1. ingestion p50 / p99 while both children run, then in the seconds after the resolver and
   after the dispatcher are killed with SIGKILL (the bound: the steady p99 of the same run);
2. for each kill, the seconds until a new child is up (the bound: the 0.5 s first restart
   delay plus a start) and until it has caught up (lag 0 in ``/readyz``, every acknowledged
   event at the receiver);
3. SIGTERM to the whole process group under load: seconds to exit beside the stated 15 s
   bound, the exit code, and acknowledged events missing from the store (must be 0).

    .venv/bin/python bench/supervision.py [--seconds 8]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson

from audience.destinations.base import DestinationConfig, DestinationPolicy
from audience.destinations.sqlite_deliveries import SqliteDeliveryStore
from audience.http.shutdown import SHUTDOWN_BOUND
from audience.storage.sqlite_events import SqliteEventStore
from audience.supervision.backoff import FIRST_DELAY

WRITE_KEY = "wk_bench_supervision"
ADMIN_TOKEN = "bench-supervision-token"
SENDERS = 4
BATCH = 50


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Receiver:
    """A webhook receiver on loopback that keeps every delivered messageId."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        lock = threading.Lock()
        received = self.ids

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with lock:
                    received.update(m["messageId"] for m in orjson.loads(body)["batch"])
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class Load:
    """Sender threads posting batches until ``stop``; each answer's time, by when it came."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.answers: list[tuple[float, float]] = []
        self.acknowledged: set[str] = set()
        self.failures = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._send, args=(n,), daemon=True) for n in range(SENDERS)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _send(self, sender: int) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            number = 0
            while not self._stop.is_set():
                number += 1
                ids = [f"s{sender}-{number}-{i}" for i in range(BATCH)]
                batch = [
                    {"type": "track", "event": "Bench", "userId": f"u{sender}", "messageId": i}
                    for i in ids
                ]
                started = time.monotonic()
                try:
                    answer = http.post("/v1/batch", json={"batch": batch}, auth=(WRITE_KEY, ""))
                except httpx.TransportError:
                    return  # the server is stopping
                done = time.monotonic()
                with self._lock:
                    self.answers.append((done, done - started))
                    if answer.status_code == 200:
                        self.acknowledged.update(ids)
                    else:
                        self.failures += 1

    def latencies(self, start: float, end: float) -> list[float]:
        with self._lock:
            return [took for at, took in self.answers if start <= at < end]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def wait_for(condition: Callable[[], Any], seconds: float) -> float:
    """Seconds until ``condition`` held (polled every 20 ms); raises after ``seconds``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > seconds:
            raise RuntimeError("the condition never held")
        time.sleep(0.02)
    return time.monotonic() - started


def readyz(url: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{url}/readyz", timeout=5).json()
    return body


def resolver_cursor(url: str) -> int:
    status = httpx.get(
        f"{url}/api/resolution", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=5
    )
    return int(status.json()["cursor"])


def children_up(url: str) -> bool:
    try:
        children = readyz(url)["children"].values()
    except httpx.TransportError:
        return False  # not listening yet
    return all(child["state"] == "running" for child in children)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each phase")
    seconds = parser.parse_args().seconds
    receiver = Receiver()
    with tempfile.TemporaryDirectory(prefix="audience-bench-supervision-") as temporary:
        data = Path(temporary) / "data"
        with SqliteEventStore.open(data / "events.sqlite3") as store:
            store.create_source("web", WRITE_KEY)
        state = SqliteDeliveryStore.in_data_dir(data)
        delivery = DestinationPolicy(initial_backoff=0.05, max_backoff=0.5, batch_size=500)
        options = {"url": receiver.url, "secret": "s" * 32}
        state.add(DestinationConfig("hook", "webhook", options, delivery=delivery), 0, 0.0)
        state.close()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUDIENCE_")}
        env.update(AUDIENCE_ADMIN_TOKEN=ADMIN_TOKEN, AUDIENCE_LOG_LEVEL="warning")
        audience = str(Path(sys.executable).with_name("audience"))
        server = subprocess.Popen(
            [audience, "serve", "--data", str(data), "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for(lambda: children_up(url), 60)
        load = Load(url)
        load.start()
        steady_start = time.monotonic()
        time.sleep(seconds)
        steady = load.latencies(steady_start, time.monotonic())
        print(
            f"1. ingestion with both children up: {len(steady) * BATCH / seconds:,.0f} events/s, "
            f"p50 {percentile(steady, 0.5) * 1000:.0f} ms, "
            f"p99 {percentile(steady, 0.99) * 1000:.0f} ms"
        )
        for name in ("resolver", "dispatcher"):
            old = readyz(url)["children"][name]["pid"]
            killed_at = time.monotonic()
            os.kill(old, signal.SIGKILL)
            up = wait_for(
                lambda name=name, old=old: (
                    (child := readyz(url)["children"][name])["state"] == "running"
                    and child["pid"] != old
                ),
                60,
            )
            # Caught up: everything committed when the new child came up has been handled.
            target = int(httpx.get(f"{url}/healthz").json()["lastSeq"])
            acknowledged = set(load.acknowledged)
            if name == "resolver":
                caught = wait_for(lambda target=target: resolver_cursor(url) >= target, 60)
            else:
                caught = wait_for(lambda seen=acknowledged: receiver.ids >= seen, 60)
            time.sleep(max(0.0, seconds - (time.monotonic() - killed_at)))
            during = load.latencies(killed_at, time.monotonic())
            print(
                f"   {name} killed: ingestion p50 {percentile(during, 0.5) * 1000:.0f} ms, "
                f"p99 {percentile(during, 0.99) * 1000:.0f} ms over the next {seconds:.0f} s "
                f"(bound: the steady p99, {percentile(steady, 0.99) * 1000:.0f} ms)"
            )
            print(
                f"2. {name}: a new one up {up:.2f} s after the kill (bound: {FIRST_DELAY} s "
                f"restart delay + one start), through the {target:,} events committed by then "
                f"{up + caught:.2f} s after the kill"
            )
        stop_started = time.monotonic()
        os.killpg(server.pid, signal.SIGTERM)
        code = server.wait(SHUTDOWN_BOUND * 3)
        took = time.monotonic() - stop_started
        load.stop()
        with SqliteEventStore.open(data / "events.sqlite3") as store:
            stored = {event.message["messageId"] for event in store.read_after(0, 100_000_000)}
        missing = len(load.acknowledged - stored)
        print(
            f"3. SIGTERM to the process group under load: exited in {took:.2f} s with code {code} "
            f"(bound: {SHUTDOWN_BOUND:.0f} s, code 0); {len(load.acknowledged):,} events "
            f"acknowledged, {missing} missing from the store (bound: 0); "
            f"{load.failures} answers other than 200"
        )
        print(f"   load average {os.getloadavg()[0]:.1f}")
        receiver.server.shutdown()


if __name__ == "__main__":
    main()
