"""Export: events/s and peak memory of ``audience events export`` in each format.

Fills a SQLite event store with ``--events`` browser-sized track events (straight into the
table, in large transactions), then runs ``audience events export --format F --output FILE`` as
a process of its own for each format and reports its events/s and peak RSS (from ``wait4``), with
the store's and the output's sizes. In the same run it measures the bound, reading the same pages
with ``read_range`` and writing nothing, and repeats each export on a tenth of the events: the
peak RSS of both runs side by side shows the memory stays flat as the log grows.

    .venv/bin/python bench/export.py [--events 1000000] [--formats jsonl,csv,parquet]
    .venv/bin/python bench/export.py --events 10000000      # the stated 10M run
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from audience.storage import exports
from audience.storage.base import EventRange
from audience.storage.sqlite_events import SqliteEventStore

FILL_CHUNK = 50_000


def event(number: int) -> bytes:
    """A track event as the browser client sends it, enriched as the collector stores it."""
    second = number % 86_400
    stamp = f"2026-11-29T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}.000Z"
    return orjson.dumps(
        {
            "type": "track",
            "event": "Product Added",
            "messageId": f"ajs-next-{number}",
            "anonymousId": f"67cf822e-2956-4838-a767-{number % 100_000:012d}",
            "userId": None,
            "properties": {"sku": f"A-{number}", "price": 19.99},
            "context": {
                "page": {"path": "/index.html", "title": "Shop", "url": "http://shop/index.html"},
                "userAgent": "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/156.0.0.0",
                "locale": "en-US",
                "library": {"name": "analytics.js", "version": "next-0.5.11"},
                "ip": "127.0.0.1",
            },
            "integrations": {},
            "timestamp": stamp,
            "sentAt": stamp,
            "receivedAt": stamp,
        }
    )


def fill(data: Path, count: int) -> int:
    """A store of ``count`` events in ``data``; its size in bytes."""
    SqliteEventStore.open(data / "events.sqlite3").close()
    connection = sqlite3.connect(data / "events.sqlite3", isolation_level=None)
    connection.execute("PRAGMA synchronous=OFF")
    connection.execute("INSERT INTO sources VALUES ('web', 'wk', '2026-11-29T00:00:00.000Z')")
    for start in range(0, count, FILL_CHUNK):
        rows = []
        for number in range(start, min(count, start + FILL_CHUNK)):
            raw = event(number)
            message = orjson.loads(raw)
            rows.append(
                ("web", message["messageId"], "track", None, message["anonymousId"],
                 "Product Added", message["receivedAt"], message["timestamp"], "127.0.0.1", raw)
            )  # fmt: skip
        connection.execute("BEGIN")
        connection.executemany(
            "INSERT INTO events (source, message_id, type, user_id, anonymous_id, event, "
            "received_at, timestamp, request_ip, message) VALUES (?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        connection.execute("COMMIT")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    return sum(path.stat().st_size for path in data.glob("events.sqlite3*"))


PEAK_AT_EXIT = (
    "import atexit, sys\n"
    "def peak():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            sys.stderr.write('peak-rss-kib ' + line.split()[1] + '\\n')\n"
    "atexit.register(peak)\n"
    "from audience.cli import main\n"
    "main()\n"
)
"""Runs the command and reports its own high-water RSS as it exits (``VmHWM`` is the process's
own after ``exec``, unlike ``ru_maxrss``, which keeps the forking parent's)."""


def run_export(data: Path, export_format: str, output: Path) -> tuple[float, int]:
    """Seconds and peak RSS (bytes) of one ``audience events export`` process."""
    command = [
        sys.executable, "-c", PEAK_AT_EXIT,
        "events", "export", "--format", export_format, "--output", str(output),
        "--data", str(data),
    ]  # fmt: skip
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        raise SystemExit(f"export failed: {completed.stderr}")
    peak = next(
        int(line.split()[1])
        for line in completed.stderr.splitlines()
        if line.startswith("peak-rss-kib ")
    )
    return elapsed, peak * 1024


def read_bound(data: Path) -> float:
    """Seconds to read every page of the store with ``read_range`` and write nothing."""
    with SqliteEventStore.open(data / "events.sqlite3") as store:
        started = time.perf_counter()
        for _ in exports.pages(store, EventRange(last_seq=store.last_seq())):
            pass
        return time.perf_counter() - started


def mib(size: int) -> str:
    return f"{size / 2**20:,.0f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--formats", default=",".join(exports.FORMATS))
    arguments = parser.parse_args()
    formats = arguments.formats.split(",")
    with tempfile.TemporaryDirectory(prefix="audience-export-") as folder:
        root = Path(folder)
        sizes = {}
        for label, count in (("small", arguments.events // 10), ("full", arguments.events)):
            (root / label).mkdir()
            started = time.perf_counter()
            sizes[label] = fill(root / label, count)
            print(
                f"store of {count:,} events: {mib(sizes[label])} "
                f"(filled in {time.perf_counter() - started:.0f} s)",
                flush=True,
            )
        bound = read_bound(root / "full")
        print(
            f"bound, read_range pages alone: {arguments.events / bound:,.0f} events/s "
            f"({bound:.1f} s)",
            flush=True,
        )
        print(f"{'format':8} {'events/s':>10} {'seconds':>8} {'peak RSS':>10} "
              f"{'RSS at 1/10':>12} {'output':>10}  (store {mib(sizes['full'])})")  # fmt: skip
        for export_format in formats:
            small_output = root / f"small.{export_format}"
            _, small_rss = run_export(root / "small", export_format, small_output)
            small_output.unlink()
            output = root / f"full.{export_format}"
            seconds, rss = run_export(root / "full", export_format, output)
            print(
                f"{export_format:8} {arguments.events / seconds:>10,.0f} {seconds:>8.1f} "
                f"{mib(rss):>10} {mib(small_rss):>12} {mib(output.stat().st_size):>10}",
                flush=True,
            )
            output.unlink()


if __name__ == "__main__":
    main()
