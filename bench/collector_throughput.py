"""Collector throughput: events/s through /v1/batch, single events/s on /v1/t, latency at half load.

Starts ``audience serve`` (SQLite, durable commits) in a subprocess and drives it from
separate load-generator processes over loopback with a small keep-alive HTTP/1.1 client
(so the generator spends as little of the shared CPU as possible). In the same run it
measures the bound: the same rows appended to the SQLite store with no HTTP.

    .venv/bin/python bench/collector_throughput.py [--seconds 10] [--processes 2]
        [--connections 16] [--synchronous full|normal]
    .venv/bin/python bench/collector_throughput.py --hot-path   # prepare and insert alone
    .venv/bin/python bench/collector_throughput.py --compare-http [--seconds 10] [--rounds 1]
    .venv/bin/python bench/collector_throughput.py --compare-bare [--seconds 10] [--rounds 1]

``--compare-http`` measures single events/s on the collector in one run, alternating the two
HTTP server configurations in ``--rounds`` ABBA blocks: uvicorn's plain httptools protocol, as
``serve`` ran before it had limits, and the limited one ``serve`` runs now. It prints both, the
ratio, and the CPU per request of each protocol alone, in process.

``--compare-bare`` measures single events/s and the server's CPU per request on the collector
alone and on a bare Starlette app on the same uvicorn that reads the body and answers ``{}``
(the bound of a single event's cost), alternated in ``--rounds`` ABBA blocks.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
ADMIN_TOKEN = "bench-admin-token-of-the-collector-benchmark"
WRITE_KEY = "BENCH_WRITE_KEY"
BATCH_SIZE = 100

BROWSER_EVENT = (
    '{"timestamp":"2026-11-29T18:55:54.876Z","integrations":{},'
    '"anonymousId":"67cf822e-2956-4838-a767-1ca4fc4861f4","event":"Product Added","type":"track",'
    '"properties":{"sku":"A-%(n)d","price":19.99},"context":{"page":{"path":"/index.html",'
    '"referrer":"","search":"","title":"Shop","url":"http://localhost:8765/index.html"},'
    '"userAgent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) '
    'HeadlessChrome/156.0.0.0 Safari/537.36","locale":"en-US","library":{"name":"analytics.js",'
    '"version":"next-0.5.11"}},"messageId":"ajs-next-%(tag)s-%(n)d","writeKey":"' + WRITE_KEY + '",'
    '"userId":null,"sentAt":"2026-11-29T18:55:54.880Z"}'
)
SERVER_EVENT = (
    '{"integrations":{},"anonymousId":null,"properties":{"revenue":42.5,"currency":"USD",'
    '"item":%(n)d},"timestamp":"2026-11-29T18:56:28.395+00:00","context":{"library":'
    '{"name":"analytics-python","version":"1.1.0"}},"userId":"user_%(n)d","type":"track",'
    '"event":"Order Completed","messageId":"%(tag)s-%(n)d"}'
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- load generator (runs in child processes) --------------------------------------------------


async def _request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes
) -> int:
    writer.write(payload)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


def _http(path: str, body: bytes, port: int, auth: bool) -> bytes:
    headers = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: text/plain",
        f"Content-Length: {len(body)}",
    ]
    if auth:
        headers.append("Authorization: Bearer " + WRITE_KEY)
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + body


def _body(kind: str, tag: str, counter: int) -> bytes:
    if kind == "batch":
        events = ",".join(
            SERVER_EVENT % {"n": counter * BATCH_SIZE + i, "tag": tag} for i in range(BATCH_SIZE)
        )
        return ('{"batch":[' + events + '],"sentAt":"2026-11-29T18:56:28.895575+00:00"}').encode()
    return (BROWSER_EVENT % {"n": counter, "tag": tag}).encode()


async def _connection(
    kind: str, tag: str, port: int, stop_at: float, interval: float | None, out: list[Any]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    path = "/v1/batch" if kind == "batch" else "/v1/t"
    counter = 0
    # Spread the connections' schedules so paced load arrives evenly, not in bursts.
    next_send = time.perf_counter() + (random.uniform(0, interval) if interval else 0.0)
    latencies: list[float] = []
    errors = 0
    while time.perf_counter() < stop_at:
        if interval is not None:
            delay = next_send - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            next_send += interval
        payload = _http(path, _body(kind, tag, counter), port, auth=kind == "batch")
        counter += 1
        started = time.perf_counter()
        status = await _request(reader, writer, payload)
        latencies.append(time.perf_counter() - started)
        if status != 200:
            errors += 1
    writer.close()
    out.append((latencies, errors))


def _generator(args: tuple[str, str, int, float, int, float | None, Any]) -> None:
    kind, tag, port, seconds, connections, interval, queue = args
    import uvloop

    async def main() -> None:
        out: list[Any] = []
        stop_at = time.perf_counter() + seconds
        await asyncio.gather(
            *(
                _connection(kind, f"{tag}-{n}", port, stop_at, interval, out)
                for n in range(connections)
            )
        )
        latencies = [value for result in out for value in result[0]]
        queue.put((latencies, sum(result[1] for result in out)))

    uvloop.run(main())


def drive(
    kind: str, port: int, seconds: float, processes: int, connections: int, rate: float | None
) -> dict[str, float]:
    """Run the load from ``processes`` processes; ``rate`` (requests/s in all) paces them."""
    interval = None if rate is None else processes * connections / rate
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    tag = f"{kind}-{time.monotonic_ns()}"
    workers = [
        context.Process(
            target=_generator,
            args=((kind, f"{tag}-{p}", port, seconds, connections, interval, queue),),
        )
        for p in range(processes)
    ]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=seconds + 60) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    latencies = sorted(value for result in results for value in result[0])
    errors = sum(result[1] for result in results)
    requests = len(latencies)
    return {
        "requests_per_s": requests / seconds,
        "events_per_s": requests * (BATCH_SIZE if kind == "batch" else 1) / seconds,
        "p50_ms": 1000 * latencies[len(latencies) // 2] if latencies else float("nan"),
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)] if latencies else float("nan"),
        "errors": errors,
    }


# -- the bound: the same rows into SQLite with no HTTP -----------------------------------------


def sqlite_bound(folder: Path, seconds: float, synchronous: str) -> float:
    """Events/s appending prebuilt records (100 a call, one caller) through the store."""
    from audience.storage.base import EventRecord
    from audience.storage.sqlite_events import SqliteEventStore

    with SqliteEventStore.open(folder / "bound.sqlite3", synchronous=synchronous) as store:
        stored = 0
        counter = 0
        stop_at = time.perf_counter() + seconds
        started = time.perf_counter()
        while time.perf_counter() < stop_at:
            records = []
            for _ in range(BATCH_SIZE):
                counter += 1
                message = (SERVER_EVENT % {"n": counter, "tag": "bound"}).encode()
                records.append(
                    EventRecord(
                        "default",
                        f"bound-{counter}",
                        "track",
                        f"user_{counter}",
                        None,
                        "Order Completed",
                        "2026-11-29T18:56:28.395Z",
                        "2026-11-29T18:56:28.395Z",
                        None,
                        message,
                    )
                )
            stored += store.append(records).result().stored
        return stored / (time.perf_counter() - started)


# -- the hot path in process: CPU per event of prepare and of the insert -----------------------


def hot_path(folder: Path) -> dict[str, float]:
    """Best-of-5 us/event of ``Ingestor.prepare`` (batch and single) and of the group insert.

    The insert is timed on its own and beside a thread running Python without pause, as the
    event loop does under a flood: every step that gives up the GIL waits to get it back.
    """
    import threading

    import orjson

    from audience.clock import SystemClock, UuidFactory
    from audience.collector.ingest import Ingestor, Submission
    from audience.storage.sqlite_events import SqliteEventStore
    from audience.storage.writer import PendingAppend, _insert_group

    def best(run: Any, events: int) -> float:
        times = []
        for _ in range(5):
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
        return min(times) / events * 1e6

    results: dict[str, float] = {}
    with SqliteEventStore.open(folder / "hot.sqlite3") as store:
        ingestor = Ingestor(store, clock=SystemClock(), ids=UuidFactory())
        batches = [orjson.loads(_body("batch", "hot", n)) for n in range(100)]
        singles = [orjson.loads(_body("single", "hot", n)) for n in range(2000)]
        results["prepare_batch"] = best(
            lambda: [ingestor.prepare(Submission("default", body)) for body in batches], 10_000
        )
        results["prepare_single"] = best(
            lambda: [
                ingestor.prepare(Submission("default", body, "track", "127.0.0.1"))
                for body in singles
            ],
            2000,
        )
        connection = store._started_writer()._connection
        groups = [
            [
                PendingAppend(ingestor.prepare(Submission("default", body)).records)
                for body in batches
            ]
            for batches in (
                [orjson.loads(_body("batch", f"ins-{g}", n)) for n in range(10)] for g in range(60)
            )
        ]

        def insert(chosen: list[list[PendingAppend]]) -> float:
            started = time.perf_counter()
            for group in chosen:
                connection.execute("BEGIN IMMEDIATE")
                _insert_group(connection, group)
                connection.execute("COMMIT")
            return (time.perf_counter() - started) / (len(chosen) * 10 * BATCH_SIZE) * 1e6

        results["insert"] = insert(groups[:30])
        stop = threading.Event()

        def spin() -> None:
            while not stop.is_set():
                sum(range(1000))

        spinner = threading.Thread(target=spin)
        spinner.start()
        try:
            results["insert_beside_busy_thread"] = insert(groups[30:])
        finally:
            stop.set()
            spinner.join()
    return results


# -- the HTTP protocol alone: CPU per request of each server configuration ----------------------


class _NullTransport:
    """Just enough of a transport for the protocol to answer into: it drops what is written."""

    def __init__(self) -> None:
        self._closing = False

    def write(self, data: bytes) -> None:
        pass

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        self._closing = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(
            name, default
        )

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def can_write_eof(self) -> bool:
        return True


def protocol_cost(rounds: int = 5, connections: int = 64, requests: int = 300) -> dict[str, float]:
    """Best-of-``rounds`` CPU us per keep-alive request through each HTTP protocol, in process.

    A browser event is fed to ``connections`` protocols ``requests`` times each; the ASGI app
    reads the body and answers ``{}``, so only the protocol's own work differs.
    """
    import functools

    import uvloop
    from uvicorn.config import Config
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    from uvicorn.server import ServerState

    from audience.config import Settings
    from audience.http.uvicorn_server import HttpLimits, LimitedHttpToolsProtocol

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    request = _http("/v1/t", _body("single", "protocol", 1), 8000, auth=False)
    limits = HttpLimits.from_settings(Settings(), 65536)
    factories = {
        "plain": HttpToolsProtocol,
        "limited": functools.partial(LimitedHttpToolsProtocol, limits=limits),
    }
    best = {server: float("inf") for server in SERVERS}

    async def main() -> None:
        config = Config(
            app, http="httptools", lifespan="off", proxy_headers=False, access_log=False
        )
        config.load()
        for _ in range(rounds):
            for server in SERVERS:
                state = ServerState()
                protocols = [
                    factories[server](config=config, server_state=state, app_state={})
                    for _ in range(connections)
                ]
                for protocol in protocols:
                    protocol.connection_made(_NullTransport())
                started = time.process_time()
                for _ in range(requests):
                    for protocol in protocols:
                        protocol.data_received(request)
                    for _ in range(3):  # let every answer complete
                        await asyncio.sleep(0)
                spent = time.process_time() - started
                best[server] = min(best[server], spent / (connections * requests) * 1e6)
                for protocol in protocols:
                    protocol.connection_lost(None)

    uvloop.run(main())
    return best


# -- the server ---------------------------------------------------------------------------------


def bare_app() -> Any:
    """A bare Starlette app that reads the body and answers ``{}``: the bound of a single event's
    cost."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def answer(request: Request) -> Response:
        await request.body()
        return Response(b"{}", media_type="application/json")

    return Starlette(routes=[Route("/{path:path}", answer, methods=["GET", "POST"])])


def run_bare(port: int) -> None:
    """The bare app on uvicorn with uvloop and httptools, as ``serve`` runs."""
    import uvicorn

    uvicorn.run(
        bare_app(),
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        lifespan="off",
    )


def start_answering(
    command: list[str], port: int, env: dict[str, str] | None = None, seconds: float = 60
) -> subprocess.Popen[bytes]:
    """``command`` in a process of its own, once it answers ``/healthz`` on ``port``."""
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env or dict(os.environ)
    )
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"{command[0]} did not start")


def start_bare(port: int) -> subprocess.Popen[bytes]:
    """The bare app in a process of its own, once it answers."""
    return start_answering([sys.executable, __file__, "--serve-bare", str(port)], port)


SERVERS = ("plain", "limited")
"""The HTTP server configurations: uvicorn's httptools protocol as is, or ``serve``'s own."""


def serve_collector_only(data: str, port: int, server: str) -> None:
    """The collector alone (no resolver or destinations beside it), on uvloop and httptools.

    ``server`` "limited" runs it as ``audience serve`` does (``uvicorn_server.run``); "plain"
    runs uvicorn's httptools protocol with no limits, as ``serve`` did before them.
    """
    import uvicorn

    from audience.cli.serve import tune_garbage_collector
    from audience.collector.app import build_parts, create_app, prepare_data
    from audience.config import load_settings
    from audience.http import uvicorn_server
    from audience.pages.login import login_page
    from audience.storage.sqlite_events import SqliteEventStore

    settings = load_settings(overrides={"data_dir": data, "port": port, "log_level": "warning"})
    store = SqliteEventStore.open(settings.database_path, synchronous=settings.synchronous)
    first = prepare_data(store, settings)
    app = create_app(
        build_parts(settings, store, admin_token=first.admin_token, login_page=login_page),
        close_store=True,
    )
    tune_garbage_collector()  # as `audience serve` does
    if server == "limited":
        uvicorn_server.run(app, settings)
        return
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


def start_server(
    folder: Path, port: int, synchronous: str, whole: bool, server: str = "limited"
) -> subprocess.Popen[bytes]:
    """``audience serve`` (``whole``) or the collector alone, on the SQLite store in ``folder``."""
    audience = str(Path(sys.executable).with_name("audience"))
    data = str(folder / "data")
    subprocess.run(
        [audience, "sources", "create", "bench", "--write-key", WRITE_KEY, "--data", data],
        check=True,
        capture_output=True,
    )
    env = {
        **os.environ,
        "AUDIENCE_ADMIN_TOKEN": ADMIN_TOKEN,
        "AUDIENCE_LOG_LEVEL": "warning",
        "AUDIENCE_SYNCHRONOUS": synchronous,
    }
    command = (
        [audience, "serve", "--data", data, "--port", str(port)]
        if whole
        else [sys.executable, __file__, "--serve-collector", data, str(port), server]
    )
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the server did not start")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(
    pid: int, kind: str, port: int, seconds: float, processes: int, connections: int, rate: Any
) -> dict[str, float]:
    """``drive``, plus the server's CPU time per event over the run."""
    before = cpu_seconds(pid)
    result = drive(kind, port, seconds, processes, connections, rate)
    events = result["events_per_s"] * seconds
    result["server_cpu_us_per_event"] = (cpu_seconds(pid) - before) / max(events, 1) * 1e6
    return result


def stored_count(port: int) -> int:
    stats = httpx.get(
        f"http://127.0.0.1:{port}/api/stats",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=30,
    ).json()
    return int(sum(stats["stored"].values()))


Runs = dict[str, list[dict[str, float]]]
"""Each server's measurements, one a turn."""


def alternated(
    options: argparse.Namespace,
    servers: tuple[str, str],
    start: Callable[[str, Path, int], subprocess.Popen[bytes]],
) -> Runs:
    """Single events measured on two servers in ABBA order, ``options.rounds`` times;
    ``start(server, folder, port)`` starts one."""
    runs: Runs = {server: [] for server in servers}
    first, second = servers
    with tempfile.TemporaryDirectory() as tmp:
        order = (first, second, second, first) * options.rounds
        for turn, server in enumerate(order):
            folder = Path(tmp) / f"{turn}-{server}"
            folder.mkdir()
            port = free_port()
            process = start(server, folder, port)
            try:
                connections = options.single_connections
                drive("single", port, 2, options.processes, connections, None)  # warm up
                runs[server].append(
                    measured(
                        process.pid,
                        "single",
                        port,
                        options.seconds,
                        options.processes,
                        connections,
                        None,
                    )
                )
            finally:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)
    return runs


def mean(runs: Runs, server: str, figure: str) -> float:
    return sum(run[figure] for run in runs[server]) / len(runs[server])


def print_runs(options: argparse.Namespace, runs: Runs, labels: dict[str, str], unit: str) -> None:
    first, second = runs
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
        f"load: {options.processes} processes x {options.single_connections} connections; "
        f"collector on SQLite synchronous={options.synchronous}; {options.seconds:g} s a run, "
        f"{options.rounds} x ABBA (A {first}, B {second})"
    )
    for server in runs:
        rates = ", ".join(f"{run['requests_per_s']:,.0f}" for run in runs[server])
        print(
            f"single /v1/t, {labels[server]}: {mean(runs, server, 'requests_per_s'):>7,.0f} "
            f"{unit}/s (runs {rates}), p50 {mean(runs, server, 'p50_ms'):.1f} ms, "
            f"p99 {mean(runs, server, 'p99_ms'):.1f} ms, "
            f"errors {mean(runs, server, 'errors'):.0f}, "
            f"server CPU {mean(runs, server, 'server_cpu_us_per_event'):.0f} us/{unit}"
        )


def compare_http(options: argparse.Namespace) -> None:
    """Single events/s through each HTTP server configuration, alternated ABBA in one run."""
    runs = alternated(
        options,
        ("plain", "limited"),
        lambda server, folder, port: start_server(folder, port, options.synchronous, False, server),
    )
    labels = {"plain": "plain httptools (no limits)", "limited": "limited (audience serve)   "}
    print_runs(options, runs, labels, "event")
    ratio = mean(runs, "limited", "requests_per_s") / mean(runs, "plain", "requests_per_s")
    cpu = mean(runs, "limited", "server_cpu_us_per_event") / mean(
        runs, "plain", "server_cpu_us_per_event"
    )
    print(f"limited / plain: {ratio:.3f} of the events/s, {cpu:.3f} of the CPU per event")
    cost = protocol_cost()
    print(
        f"the protocol alone, in process (best of 5, CPU): plain {cost['plain']:.1f} us/request, "
        f"limited {cost['limited']:.1f} us/request, "
        f"{cost['limited'] - cost['plain']:+.1f} us of the server's CPU per event above"
    )


def compare_bare(options: argparse.Namespace) -> None:
    """Single events/s on the collector and on the bare app, alternated ABBA in one run."""

    def start(server: str, folder: Path, port: int) -> subprocess.Popen[bytes]:
        if server == "bare":
            return start_bare(port)
        return start_server(folder, port, options.synchronous, False)

    runs = alternated(options, ("bare", "collector"), start)
    labels = {"bare": "bare Starlette answering {}", "collector": "collector (audience serve) "}
    print_runs(options, runs, labels, "request")
    ratio = mean(runs, "collector", "requests_per_s") / mean(runs, "bare", "requests_per_s")
    cpu = mean(runs, "collector", "server_cpu_us_per_event") / mean(
        runs, "bare", "server_cpu_us_per_event"
    )
    print(
        f"collector / bare: {ratio:.3f} of the requests/s, {cpu:.2f} x the CPU per request"
        "   target >= 0.6 of the requests/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--processes", type=int, default=2, help="load generator processes")
    parser.add_argument("--connections", type=int, default=16, help="batch connections per process")
    parser.add_argument(
        "--single-connections",
        type=int,
        default=64,
        help="single-event connections per process (browsers: many clients, one event each)",
    )
    parser.add_argument("--synchronous", choices=["full", "normal"], default="full")
    parser.add_argument(
        "--whole",
        action="store_true",
        help="run `audience serve` with the resolver and destinations beside the collector",
    )
    parser.add_argument(
        "--hot-path",
        action="store_true",
        help="only time prepare and the group insert in this process (no HTTP)",
    )
    parser.add_argument(
        "--compare-http",
        action="store_true",
        help="single events/s on the plain and the limited HTTP server, side by side",
    )
    parser.add_argument(
        "--compare-bare",
        action="store_true",
        help="single events/s on the collector and on a bare Starlette app, side by side",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="with --compare-http or --compare-bare: ABBA blocks to run",
    )
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument(
        "--serve-collector", nargs=3, metavar=("DATA", "PORT", "SERVER"), help=argparse.SUPPRESS
    )
    options = parser.parse_args()
    if options.serve_collector:
        data, port, server = options.serve_collector
        serve_collector_only(data, int(port), server)
        return
    if options.serve_bare:
        run_bare(options.serve_bare)
        return
    if options.compare_http:
        compare_http(options)
        return
    if options.compare_bare:
        compare_bare(options)
        return
    if options.hot_path:
        with tempfile.TemporaryDirectory() as tmp:
            figures = hot_path(Path(tmp))
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
        print(
            f"prepare (validate, enrich, serialize): {figures['prepare_batch']:.1f} us/event "
            f"batched, {figures['prepare_single']:.1f} us/event single; "
            "bound at 50,000 events/s on one core: 20 us/event for all of it"
        )
        print(
            f"group insert (10 requests of {BATCH_SIZE} a commit, FULL): {figures['insert']:.1f} "
            "us/event wall; beside a busy Python thread: "
            f"{figures['insert_beside_busy_thread']:.1f}"
        )
        return
    seconds, processes, connections = options.seconds, options.processes, options.connections
    single_connections = options.single_connections

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        port = free_port()
        server = start_server(folder, port, options.synchronous, options.whole)
        try:
            drive("batch", port, 2, processes, connections, None)  # warm up
            pid = server.pid
            batch = measured(pid, "batch", port, seconds, processes, connections, None)
            single = measured(pid, "single", port, seconds, processes, single_connections, None)
            half_batch = measured(
                pid, "batch", port, seconds, processes, connections, batch["requests_per_s"] / 2
            )
            half_single = measured(
                pid,
                "single",
                port,
                seconds,
                processes,
                single_connections,
                single["requests_per_s"] / 2,
            )
            total = stored_count(port)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
        bound = sqlite_bound(folder, seconds, options.synchronous)

    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
        f"load: {processes} processes x {connections} (batch) or {single_connections} (single) "
        "connections; "
        f"SQLite synchronous={options.synchronous}; server: "
        + ("audience serve (resolver and destinations beside it)" if options.whole else "collector")
    )
    print(
        f"batch  /v1/batch ({BATCH_SIZE}/req): {batch['events_per_s']:>9,.0f} events/s "
        f"({batch['requests_per_s']:,.0f} req/s), p50 {batch['p50_ms']:.1f} ms, "
        f"p99 {batch['p99_ms']:.1f} ms, errors {batch['errors']:.0f}, "
        f"server CPU {batch['server_cpu_us_per_event']:.1f} us/event   target >= 50,000 events/s"
    )
    print(
        f"single /v1/t (browser event):  {single['requests_per_s']:>9,.0f} events/s, "
        f"p50 {single['p50_ms']:.1f} ms, p99 {single['p99_ms']:.1f} ms, "
        f"errors {single['errors']:.0f}, server CPU {single['server_cpu_us_per_event']:.0f} "
        "us/event   target >= 6,000 events/s"
    )
    print(
        f"half load batch:  {half_batch['events_per_s']:>9,.0f} events/s, "
        f"p50 {half_batch['p50_ms']:.1f} ms, p99 {half_batch['p99_ms']:.1f} ms   target p99 < 50 ms"
    )
    print(
        f"half load single: {half_single['requests_per_s']:>9,.0f} events/s, "
        f"p50 {half_single['p50_ms']:.1f} ms, p99 {half_single['p99_ms']:.1f} ms   "
        "target p99 < 50 ms"
    )
    print(f"bound: SQLite store, same rows, no HTTP: {bound:>9,.0f} events/s")
    print(f"events stored by the server in the run: {total:,}")
    print(
        "anchors: RudderStack 1.7k-3k events/s per node on PostgreSQL; "
        "Snowplow collector 5.8k requests/s on two 4-vCPU hosts"
    )


if __name__ == "__main__":
    main()
