"""The whole pipeline: the default ``audience serve`` with its resolver and two destinations under
sustained load, each figure beside its bound measured in the same run.

``audience serve`` runs on the embedded SQLite store (durable commits) with its resolver and
dispatcher children and two destinations: a PostgreSQL warehouse (the local server, a schema of its
own) and a webhook to a loopback receiver. Load generators in processes of their own post batches of
100 server-side events for ``--seconds``, then single browser events for as long. Every 0.5 s the
admin API is read for the resolver's lag and each destination's lag; after each phase the
benchmark waits for both to drain. It prints ingest events/s, resolver and delivery lag p50/p99
(events, and milliseconds at the phase's rate), the CPU microseconds per event of the collector,
the resolver and the dispatcher, and the bounds, each as a ratio:

- the same rows appended to the SQLite store with no HTTP (batched ingestion);
- a bare Starlette app on uvicorn answering ``{}`` to the same single-event requests;
- ``COPY`` of as many warehouse rows into PostgreSQL (the warehouse's load rate);
- twice the collector's batched rate, for the resolver (which must never hold a burst back).

    .venv/bin/python bench/pipeline.py [--seconds 60] [--processes 2]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from collector_throughput import (
    ADMIN_TOKEN,
    WRITE_KEY,
    cpu_seconds,
    drive,
    free_port,
    run_bare,
    sqlite_bound,
    start_answering,
)
from warehouse_load import postgres_copy_bound

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
ROWS_PER_EVENT = 2
"""A track lands in ``tracks`` and in its event's table."""
WAREHOUSE_WIDTH = 25
"""About the width of a warehouse event row here, for the COPY bound."""


def process_ids(client: httpx.Client, serve_pid: int) -> dict[str, int]:
    """``collector``, ``resolver`` and ``dispatcher`` -> pid; the children's from ``/readyz``."""
    ready = client.get("/readyz").json()
    pids = {"collector": serve_pid}
    for role in ("resolver", "dispatcher"):
        pids[role] = int(ready["children"][role]["pid"])
    return pids


@dataclass
class Lags:
    """Samples of the resolver's and each destination's lag, in events."""

    resolver: list[int] = field(default_factory=list)
    destinations: dict[str, list[int]] = field(default_factory=dict)


def read_lags(client: httpx.Client) -> tuple[int, dict[str, int]]:
    resolution = client.get("/api/resolution").json()
    destinations = client.get("/api/destinations").json()["destinations"]
    return int(resolution["lag"]), {d["name"]: int(d["lag"]) for d in destinations}


def sample(client: httpx.Client, lags: Lags, stop: threading.Event) -> None:
    while not stop.is_set():
        resolver, destinations = read_lags(client)
        lags.resolver.append(resolver)
        for name, lag in destinations.items():
            lags.destinations.setdefault(name, []).append(lag)
        stop.wait(0.5)


def drain(client: httpx.Client, limit: float = 600) -> float:
    """Seconds until the resolver and every destination have caught up."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        resolver, destinations = read_lags(client)
        if resolver == 0 and not any(destinations.values()):
            return time.perf_counter() - started
        time.sleep(0.2)
    return float("inf")


def percentile(values: list[int], share: float) -> float:
    ordered = sorted(values) or [0]
    return float(ordered[min(len(ordered) - 1, int(len(ordered) * share))])


def phase(
    kind: str,
    port: int,
    seconds: float,
    processes: int,
    connections: int,
    pids: dict[str, int],
    client: httpx.Client,
) -> dict[str, Any]:
    """One sustained load: ingestion, lags, the drain and each process's CPU per event."""
    before = {role: cpu_seconds(pid) for role, pid in pids.items()}
    lags = Lags()
    stop = threading.Event()
    sampler = threading.Thread(target=sample, args=(client, lags, stop), daemon=True)
    sampler.start()
    load = drive(kind, port, seconds, processes, connections, None)
    stop.set()
    sampler.join()
    drained = drain(client)
    events = load["events_per_s"] * seconds
    cpu = {
        role: (cpu_seconds(pid) - before[role]) / max(events, 1) * 1e6 for role, pid in pids.items()
    }
    return {"load": load, "lags": lags, "drained": drained, "cpu": cpu}


def describe(name: str, result: dict[str, Any], bound: float, bound_name: str) -> None:
    load, lags = result["load"], result["lags"]
    rate = load["events_per_s"]
    print(
        f"{name}: {rate:,.0f} events/s = {rate / bound:.2f} of {bound_name} ({bound:,.0f}); "
        f"p50 {load['p50_ms']:.1f} ms, p99 {load['p99_ms']:.1f} ms, non-200 {load['errors']:.0f}"
    )

    def lag_line(label: str, samples: list[int], target_ms: float) -> str:
        p50, p99 = percentile(samples, 0.5), percentile(samples, 0.99)
        p99_ms = p99 / rate * 1000 if rate else 0.0
        return (
            f"  {label} lag p50 {p50:,.0f} events ({p50 / rate * 1000 if rate else 0:,.0f} ms), "
            f"p99 {p99:,.0f} events ({p99_ms:,.0f} ms; target < {target_ms:,.0f} ms)"
        )

    print(lag_line("resolver", lags.resolver, 1000))
    for destination, samples in sorted(lags.destinations.items()):
        print(lag_line(f"destination {destination}", samples, 5000))
    print(f"  drained {result['drained']:.1f} s after the load stopped")
    print(
        "  CPU per event: " + ", ".join(f"{role} {us:.1f} us" for role, us in result["cpu"].items())
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds of each load")
    parser.add_argument("--processes", type=int, default=2, help="load generator processes")
    parser.add_argument("--connections", type=int, default=16, help="batch connections a process")
    parser.add_argument("--single-connections", type=int, default=64)
    parser.add_argument("--bare", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.bare:
        run_bare(options.bare)
        return
    audience = str(Path(sys.executable).with_name("audience"))
    schema = f"bench_pipeline_{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="audience-bench-pipeline-") as temporary:
        folder = Path(temporary)
        data = str(folder / "data")
        receiver_port, port, bare_port = free_port(), free_port(), free_port()
        receiver = start_answering(
            [sys.executable, __file__, "--bare", str(receiver_port)], receiver_port
        )
        setup = [
            ["sources", "create", "bench", "--write-key", WRITE_KEY],
            ["destinations", "add", "warehouse", "--postgres", POSTGRES, "--schema", schema],
            ["destinations", "add", "hook", "--webhook", f"http://127.0.0.1:{receiver_port}/"],
        ]
        for arguments in setup:
            subprocess.run([audience, *arguments, "--data", data], check=True, capture_output=True)
        env = {**os.environ, "AUDIENCE_ADMIN_TOKEN": ADMIN_TOKEN, "AUDIENCE_LOG_LEVEL": "warning"}
        server = start_answering(
            [audience, "serve", "--data", data, "--port", str(port)], port, env
        )
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        try:
            with httpx.Client(
                base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30
            ) as client:
                drive("batch", port, 2, options.processes, options.connections, None)  # warm up
                drain(client)
                pids = process_ids(client, server.pid)
                batched = phase(
                    "batch",
                    port,
                    options.seconds,
                    options.processes,
                    options.connections,
                    pids,
                    client,
                )
                single = phase(
                    "single",
                    port,
                    options.seconds,
                    options.processes,
                    options.single_connections,
                    pids,
                    client,
                )
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
            receiver.terminate()
            receiver.wait(timeout=30)
        bare = start_answering([sys.executable, __file__, "--bare", str(bare_port)], bare_port)
        try:
            bare_load = drive(
                "single",
                bare_port,
                min(options.seconds, 20),
                options.processes,
                options.single_connections,
                None,
            )
        finally:
            bare.terminate()
            bare.wait(timeout=30)
        insert_bound = sqlite_bound(folder, min(options.seconds, 20), "full")
    rows = 200_000
    copy_rate = rows / postgres_copy_bound(rows, WAREHOUSE_WIDTH)
    with psycopg.connect(POSTGRES, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; audience serve "
        f"(SQLite, durable commits) with its resolver, a PostgreSQL warehouse and a webhook; "
        f"{options.seconds:g} s of each load from {options.processes} processes"
    )
    describe("batched /v1/batch (100 a request)", batched, insert_bound, "the SQLite insert bound")
    describe("single /v1/t", single, bare_load["requests_per_s"], "a bare Starlette app")
    batched_rate = batched["load"]["events_per_s"]
    drained = batched["drained"]
    delivered = batched_rate * options.seconds / (options.seconds + drained)
    loaded = delivered * ROWS_PER_EVENT
    print(
        f"warehouse: {loaded:,.0f} rows/s over the batched load and its drain = "
        f"{loaded / copy_rate:.2f} of COPY ({copy_rate:,.0f} rows/s)"
    )
    print(
        f"resolver: the lag above says whether it kept up with {batched_rate:,.0f} events/s; "
        f"the target is twice the collector's batched rate ({2 * batched_rate:,.0f} events/s), "
        "measured alone by bench/resolution.py"
    )


if __name__ == "__main__":
    main()
