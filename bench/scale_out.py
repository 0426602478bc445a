"""Scaling past one machine: /v1/batch events/s through collector processes on the replicated
log (NATS JetStream), on one NATS node and on a three-node cluster with three replicas, beside
the embedded single-PostgreSQL figure measured in the same run.

Each run has a PostgreSQL schema and a stream of its own. ``audience serve --role collector
--workers N`` (N collector processes sharing a port) publishes to the log; one ``audience serve
--role writer`` appends the log to the store and runs the resolver. Load comes from the
collector benchmark's generator processes (batches of 100 events) for ``--seconds``. After the
load it prints, per run: events/s acknowledged, p50/p99 of a request, the CPU microseconds per
event of the collectors, the writer (with its resolver) and the NATS servers (process CPU time:
the machine is shared, wall figures are noisy), how long the writer took to drain what was
acknowledged, and the end-to-end lag of one probe event once idle: from its 200 to its row in
the store and to its profile. Ratios are to the embedded store with as many processes.

    .venv/bin/python bench/scale_out.py [--seconds 6] [--generators 2]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from collector_throughput import ADMIN_TOKEN, BATCH_SIZE, WRITE_KEY, drive, free_port

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"
AUDIENCE = str(Path(sys.executable).with_name("audience"))


def schema_url(schema: str) -> str:
    return f"{POSTGRES}?options=-csearch_path%3D{schema}"


def process_tree_cpu(pid: int) -> float:
    """User plus system CPU seconds of ``pid`` and every live descendant (Linux /proc)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    total, frontier = 0.0, [pid]
    while frontier:
        current = frontier.pop()
        total += times.get(current, 0.0)
        frontier.extend(child for child, parent in parents.items() if parent == current)
    return total


# -- NATS -------------------------------------------------------------------------------------


@dataclass
class Nats:
    process: subprocess.Popen[bytes]
    url: str


@contextlib.contextmanager
def nats_servers(folder: Path, size: int) -> Iterator[list[Nats]]:
    """``size`` JetStream servers (a cluster with routes when more than one)."""
    ports = [free_port() for _ in range(size)]
    routes = [free_port() for _ in range(size)]
    servers: list[Nats] = []
    try:
        for number in range(size):
            command = [NATS_SERVER, "-js", "-a", "127.0.0.1", "-p", str(ports[number])]
            command += ["-sd", str(folder / f"n{number}"), "-n", f"n{number}"]
            if size > 1:
                command += [
                    "--cluster_name",
                    "bench",
                    "--cluster",
                    f"nats://127.0.0.1:{routes[number]}",
                ]
                others = [
                    f"nats://127.0.0.1:{port}" for i, port in enumerate(routes) if i != number
                ]
                command += ["--routes", ",".join(others)]
            process = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            servers.append(Nats(process, f"nats://127.0.0.1:{ports[number]}"))
        time.sleep(2.0 if size > 1 else 0.5)  # the cluster elects its meta leader
        yield servers
    finally:
        for server in servers:
            server.process.terminate()
            server.process.wait(10)


# -- audience serve ---------------------------------------------------------------------------


def serve(folder: Path, database: str, args: Sequence[str]) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    command = [AUDIENCE, "serve", "--data", str(folder / f"data-{port}"), "--port", str(port)]
    command += ["--database-url", database, *args]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AUDIENCE_")},
        "AUDIENCE_ADMIN_TOKEN": ADMIN_TOKEN,
        "AUDIENCE_LOG_LEVEL": "warning",
    }
    log = (folder / f"serve-{port}.log").open("ab")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process, port
        if process.poll() is not None:
            break
        time.sleep(0.2)
    process.kill()
    raise SystemExit(f"audience serve {' '.join(args)} did not get ready; see {log.name}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


# -- one run ----------------------------------------------------------------------------------


def stored_count(database: str) -> int:
    with psycopg.connect(database) as connection:
        row = connection.execute("SELECT count(*) FROM events").fetchone()
        return int(row[0]) if row else 0


def has_profile(database: str, anonymous_id: str) -> bool:
    with psycopg.connect(database) as connection:
        try:
            row = connection.execute(
                "SELECT 1 FROM identifiers WHERE type = 'anonymous_id' AND value = %s",
                (anonymous_id,),
            ).fetchone()
        except psycopg.errors.UndefinedTable:
            return False
        return row is not None


def probe_lag(port: int, database: str) -> tuple[float, float]:
    """Seconds from a probe's 200 to its stored row, and to its profile."""
    anonymous_id = f"probe-{uuid.uuid4().hex}"
    event = {"type": "track", "event": "Probe", "anonymousId": anonymous_id}
    reply = httpx.post(
        f"http://127.0.0.1:{port}/v1/batch",
        json={"batch": [event]},
        headers={"Authorization": f"Bearer {WRITE_KEY}"},
        timeout=10,
    )
    reply.raise_for_status()
    answered = time.perf_counter()
    stored = profile = float("nan")
    deadline = answered + 30
    with psycopg.connect(database) as connection:
        while time.perf_counter() < deadline and stored != stored:
            row = connection.execute(
                "SELECT 1 FROM events WHERE anonymous_id = %s", (anonymous_id,)
            ).fetchone()
            if row is not None:
                stored = time.perf_counter() - answered
            time.sleep(0.002)
    while time.perf_counter() < deadline and profile != profile:
        if has_profile(database, anonymous_id):
            profile = time.perf_counter() - answered
        time.sleep(0.005)
    return stored, profile


@dataclass
class Result:
    events_per_s: float
    p50_ms: float
    p99_ms: float
    errors: float
    collector_us: float
    writer_us: float
    nats_us: float
    drain_s: float
    stored_lag_ms: float
    profile_lag_ms: float


def run(
    folder: Path,
    admin: psycopg.Connection[Any],
    *,
    collectors: int,
    seconds: float,
    generators: int,
    nats: list[Nats] | None,
    partitions: int = 1,
) -> Result:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE SCHEMA "{schema}"')
    database = schema_url(schema)
    with psycopg.connect(database, autocommit=True):
        pass
    from audience.storage.postgres_events import PostgresEventStore

    with PostgresEventStore.open(database) as store:
        store.create_source("bench", WRITE_KEY)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        if nats is None:
            process, port = serve(folder, database, ["--workers", str(collectors)])
            processes.append(process)
            writer = process
        else:
            log = ["--log", ",".join(server.url for server in nats)]
            log += ["--partitions", str(partitions), "--log-prefix", schema]
            log += ["--log-replicas", str(len(nats))]
            writer, _ = serve(folder, database, [*log, "--role", "writer"])
            processes.append(writer)
            process, port = serve(
                folder, database, [*log, "--role", "collector", "--workers", str(collectors)]
            )
            processes.append(process)
        time.sleep(1.0 + collectors)  # every worker has started
        before = [process_tree_cpu(p.pid) for p in processes]
        nats_before = sum(process_tree_cpu(server.process.pid) for server in nats or [])
        result = drive("batch", port, seconds, generators, 16, None)
        acked = int(result["requests_per_s"] * seconds) * BATCH_SIZE
        loaded = time.perf_counter()
        while stored_count(database) < acked and time.perf_counter() < loaded + 120:
            time.sleep(0.05)
        drain = time.perf_counter() - loaded
        after = [process_tree_cpu(p.pid) for p in processes]
        nats_after = sum(process_tree_cpu(server.process.pid) for server in nats or [])
        events = max(acked, 1)
        if nats is None:
            collector_us = (after[0] - before[0]) / events * 1e6
            writer_us = 0.0
        else:
            writer_us = (after[0] - before[0]) / events * 1e6
            collector_us = (after[1] - before[1]) / events * 1e6
        stored_lag, profile_lag = probe_lag(port, database)
        return Result(
            result["events_per_s"],
            result["p50_ms"],
            result["p99_ms"],
            result["errors"],
            collector_us,
            writer_us,
            (nats_after - nats_before) / events * 1e6,
            drain,
            stored_lag * 1000,
            profile_lag * 1000,
        )
    finally:
        for process in reversed(processes):
            stop(process)
        admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def line(label: str, result: Result, baseline: Result | None) -> str:
    ratio = (
        "" if baseline is None else f"  {result.events_per_s / baseline.events_per_s:.2f}x embedded"
    )
    return (
        f"  {label:<28} {result.events_per_s:>8,.0f} ev/s  p50 {result.p50_ms:6.1f} ms  "
        f"p99 {result.p99_ms:6.1f} ms  err {result.errors:.0f}  cpu us/ev: collectors "
        f"{result.collector_us:5.0f} writer {result.writer_us:5.0f} nats {result.nats_us:4.0f}  "
        f"drain {result.drain_s:5.1f} s  lag stored {result.stored_lag_ms:6.1f} ms "
        f"profile {result.profile_lag_ms:6.1f} ms{ratio}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--generators", type=int, default=2)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f}; {os.cpu_count()} cores")
    plan = [(1, 4), (2, 4), (4, 4), (2, 1), (2, 2)]
    with tempfile.TemporaryDirectory() as tmp, psycopg.connect(POSTGRES, autocommit=True) as admin:
        folder = Path(tmp)
        embedded: dict[int, Result] = {}
        print("\nembedded: audience serve --database-url (the store is the log)")
        for collectors in (1, 2, 4):
            embedded[collectors] = run(
                folder,
                admin,
                collectors=collectors,
                seconds=args.seconds,
                generators=args.generators,
                nats=None,
            )
            print(line(f"{collectors} process(es)", embedded[collectors], None), flush=True)
        for size, name in ((1, "one NATS node"), (3, "three-node cluster, 3 replicas")):
            print(f"\n--log on {name}: --role collector --workers N, one --role writer")
            with nats_servers(folder / f"nats-{size}", size) as nats:
                for collectors, partitions in plan:
                    result = run(
                        folder,
                        admin,
                        collectors=collectors,
                        seconds=args.seconds,
                        generators=args.generators,
                        nats=nats,
                        partitions=partitions,
                    )
                    label = f"{collectors} collector(s), {partitions} part."
                    print(line(label, result, embedded[collectors]), flush=True)
    print(f"\nload average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
