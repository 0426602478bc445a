"""Benchmark: what one track() costs the caller, and how fast 100,000 events reach a collector.

Runs audience's SDK (durable SQLite outbox on, and memory only) beside segment-analytics-python
and customerio-cdp-analytics doing the same work, each in its own process, against one small fast
HTTP sink in another process that counts the messages it receives.

    .venv/bin/python bench/sdk_overhead.py [--events 100000] [--calls 20000]

Caller cost: median and p99 of ``track()`` timed one by one (delivery runs meanwhile).
Throughput: 100,000 ``track()`` calls, then ``flush()``, until the sink has counted every
message; events per second of wall time, and the CPU time the SDK's process spent per event
(every thread: the figure that load on the machine disturbs least). Every SDK runs ``--rounds``
times (3), interleaved, and each figure is the median of its rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from typing import Any

import httpx

SDKS = (
    "audience (outbox)",
    "audience (memory)",
    "segment-analytics-python",
    "customerio-cdp-analytics",
)
WRITE_KEY = "BENCHWRITEKEY"


# -- the sink ------------------------------------------------------------------------------


def run_sink() -> None:
    """Serve HTTP/1.1 keep-alive on a free loopback port; count messages; GET returns the count."""
    received = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal received
        try:
            while True:
                request_line = await reader.readline()
                if not request_line:
                    break
                headers: dict[str, str] = {}
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b""):
                        break
                    name, _, value = line.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0"))
                body = await reader.readexactly(length) if length else b""
                if request_line.startswith(b"GET"):
                    payload = str(received).encode()
                else:
                    if headers.get("content-encoding") == "gzip":
                        body = zlib.decompress(body, 47)
                    received += body.count(b'"messageId"')
                    payload = b"{}"
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(payload), payload)
                )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def sink_count(url: str) -> int:
    return int(httpx.get(url + "/count", timeout=10).text)


# -- one SDK -------------------------------------------------------------------------------


class Subject:
    """One SDK, driven the same way: track(), flush(), close()."""

    def __init__(self, sdk: str, url: str, folder: str) -> None:
        self.sdk = sdk
        if sdk.startswith("audience"):
            from audience import Analytics
            from audience.sdk import DeliveryPolicy

            policy = DeliveryPolicy(max_queue_size=200_000, max_outbox_size=200_000)
            storage = "disk" if "outbox" in sdk else "memory"
            self.ours = Analytics(
                WRITE_KEY, host=url, storage_dir=folder, storage=storage, delivery=policy
            )
            self.ours.identify("user_123")
            self.ours.flush()
        else:
            if sdk == "segment-analytics-python":
                from segment.analytics.client import Client
            else:
                from customerio.analytics.client import Client
            self.peer = Client(WRITE_KEY, host=url, max_queue_size=200_000)

    def track(self, number: int) -> None:
        if self.sdk.startswith("audience"):
            self.ours.track("Burst Event", {"i": number})
        else:
            self.peer.track(user_id="user_123", event="Burst Event", properties={"i": number})

    def flush(self) -> None:
        if self.sdk.startswith("audience"):
            self.ours.flush()
        else:
            self.peer.flush()

    def close(self) -> None:
        if self.sdk.startswith("audience"):
            self.ours.shutdown()
        else:
            self.peer.shutdown()


def measure(sdk: str, url: str, events: int, calls: int) -> dict[str, Any]:
    """Caller cost and throughput of one SDK (runs in its own process)."""
    with tempfile.TemporaryDirectory() as folder:
        subject = Subject(sdk, url, folder + "/cost")
        for number in range(2_000):
            subject.track(number)
        subject.flush()
        timings = []
        clock = time.perf_counter_ns
        for number in range(calls):
            started = clock()
            subject.track(number)
            timings.append(clock() - started)
        subject.flush()
        subject.close()
        timings.sort()

        subject = Subject(sdk, url, folder + "/throughput")
        before = sink_count(url)
        cpu_at = time.process_time()
        started_at = time.perf_counter()
        for number in range(events):
            subject.track(number)
        subject.flush()
        deadline = time.monotonic() + 900
        while sink_count(url) < before + events and time.monotonic() < deadline:
            time.sleep(0.01)
        elapsed = time.perf_counter() - started_at
        cpu = time.process_time() - cpu_at
        delivered = sink_count(url) - before
        subject.close()
    return {
        "sdk": sdk,
        "median_us": timings[len(timings) // 2] / 1000,
        "p99_us": timings[int(len(timings) * 0.99)] / 1000,
        "events_per_s": delivered / elapsed,
        "cpu_us_per_event": cpu / events * 1e6,
        "delivered": delivered,
        "seconds": elapsed,
    }


# -- the run -------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sink", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        run_sink()
        return
    if args.measure:
        print(json.dumps(measure(args.measure, args.url, args.events, args.calls)))
        return

    sink = subprocess.Popen([sys.executable, __file__, "--sink"], stdout=subprocess.PIPE, text=True)
    try:
        assert sink.stdout is not None
        url = f"http://127.0.0.1:{sink.stdout.readline().strip()}"
        runs: dict[str, list[dict[str, Any]]] = {sdk: [] for sdk in SDKS}
        for round_number in range(args.rounds):
            for sdk in SDKS:  # interleaved, so a change in the machine's load hits every SDK
                command = [sys.executable, __file__, "--measure", sdk, "--url", url]
                command += ["--events", str(args.events), "--calls", str(args.calls)]
                output = subprocess.run(command, check=True, capture_output=True, text=True)
                runs[sdk].append(json.loads(output.stdout.strip().splitlines()[-1]))
                print(f"  round {round_number + 1}: {sdk}", file=sys.stderr, flush=True)
    finally:
        sink.terminate()
        sink.wait(10)
    report([median_run(sdk, runs[sdk]) for sdk in SDKS], args.events, args.rounds)


def median_run(sdk: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure's median over the rounds."""
    figures = ("median_us", "p99_us", "events_per_s", "cpu_us_per_event", "seconds")
    merged: dict[str, Any] = {name: statistics.median(r[name] for r in runs) for name in figures}
    merged["sdk"] = sdk
    merged["delivered"] = min(r["delivered"] for r in runs)
    return merged


def report(results: list[dict[str, Any]], events: int, rounds: int) -> None:
    print(
        f"track() caller cost and delivery of {events:,} events to a loopback sink "
        f"(medians of {rounds} interleaved rounds)"
    )
    print(
        f"{'sdk':28} {'median us':>10} {'p99 us':>10} {'events/s':>11} "
        f"{'cpu us/event':>13} {'delivered':>10}"
    )
    for row in results:
        print(
            f"{row['sdk']:28} {row['median_us']:10.2f} {row['p99_us']:10.2f} "
            f"{row['events_per_s']:11,.0f} {row['cpu_us_per_event']:13.1f} {row['delivered']:10,}"
        )
    ours = results[0]
    peers = [row for row in results if not row["sdk"].startswith("audience")]
    cheapest = min(peers, key=lambda row: row["median_us"])
    fastest = max(peers, key=lambda row: row["events_per_s"])
    cost_ratio = ours["median_us"] / cheapest["median_us"]
    speed_ratio = ours["events_per_s"] / fastest["events_per_s"]
    print(
        f"caller cost with the outbox: {cost_ratio:.2f}x the cheaper peer ({cheapest['sdk']}); "
        f"target <= 0.33x: {'met' if cost_ratio <= 1 / 3 else 'NOT met'}"
    )
    print(
        f"throughput with the outbox: {speed_ratio:.2f}x the faster peer ({fastest['sdk']}); "
        f"target >= 2x: {'met' if speed_ratio >= 2 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
