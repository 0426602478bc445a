"""The HTTP limits of ``audience serve``, against the real server process over real sockets.

Idle floods, slowloris headers, stalled bodies and header floods are cut within their stated
timeouts while a good request beside them is answered within a second; the connection cap
answers 503 instead of hanging; keep-alive, pipelining, chunked bodies and
``Expect: 100-continue`` keep working. The server runs with short timeouts so each test takes
a few seconds.
"""

from __future__ import annotations

import resource
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from click.testing import CliRunner
from collector_support import ADMIN_TOKEN

from audience.cli import main
from postgres_db import fresh_schema
from support import AudienceServer

WRITE_KEY = "WK_HTTP_LIMITS"
HEADER_TIMEOUT = 1.5
BODY_TIMEOUT = 1.5
KEEP_ALIVE_TIMEOUT = 1.0
# How late past its timeout a bad connection may still be open: the shared machine is slow.
MARGIN = 2.0
DESCRIPTOR_LIMIT = 1024
SHORT_LIMITS = {
    "AUDIENCE_HTTP_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
    "AUDIENCE_HTTP_BODY_TIMEOUT": str(BODY_TIMEOUT),
    "AUDIENCE_HTTP_KEEP_ALIVE_TIMEOUT": str(KEEP_ALIVE_TIMEOUT),
    "AUDIENCE_LOG_LEVEL": "warning",
}
CAP = 16
TRACK_HEAD = (
    "POST /v1/track HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    "Authorization: Basic V0tfSFRUUF9MSU1JVFM6\r\n"  # WK_HTTP_LIMITS:
)


def track_body(message_id: str) -> bytes:
    """A track whose request address counts as the visitor's (``context.direct``)."""
    message = {"userId": "u1", "event": "Limits", "messageId": message_id}
    return orjson.dumps({**message, "context": {"direct": True}})


def track_request(message_id: str, extra: str = "") -> bytes:
    body = track_body(message_id)
    head = f"{TRACK_HEAD}{extra}Content-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


class Raw:
    """One client connection written and read byte by byte."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.opened = time.monotonic()
        self.received = b""
        self.closed_at: float | None = None

    def send(self, data: bytes) -> bool:
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        return True

    def response(self, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
        """The next response: status, headers (lower-case names) and the body."""
        self.sock.settimeout(timeout)
        while b"\r\n\r\n" not in self.received:
            self._read_more()
        head, self.received = self.received.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self.received) < length:
            self._read_more()
        body, self.received = self.received[:length], self.received[length:]
        return status, headers, body

    def _read_more(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed by the server after {self.received!r}")
        self.received += chunk

    def close(self) -> None:
        self.sock.close()


def wait_closed(connections: list[Raw], seconds: float) -> list[Raw]:
    """Read every connection until the server closes it or ``seconds`` pass; the ones still open.

    Each closed connection keeps what it received and the moment it saw the end.
    """
    selector = selectors.DefaultSelector()
    for connection in connections:
        if connection.closed_at is None:
            connection.sock.setblocking(False)
            selector.register(connection.sock, selectors.EVENT_READ, connection)
    deadline = time.monotonic() + seconds
    while selector.get_map() and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=max(0.0, deadline - time.monotonic())):
            connection = key.data
            try:
                chunk = connection.sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            if chunk:
                connection.received += chunk
                continue
            connection.closed_at = time.monotonic()
            selector.unregister(connection.sock)
    selector.close()
    return [connection for connection in connections if connection.closed_at is None]


def timed_track(url: str, message_id: str) -> tuple[int, float]:
    """A good visitor's /v1/track on a fresh connection: its status and how long it took."""
    started = time.monotonic()
    try:
        response = httpx.post(
            f"{url}/v1/track",
            auth=(WRITE_KEY, ""),
            content=track_body(message_id),
            headers={"Content-Type": "application/json"},
            timeout=5,
        )
    except httpx.TransportError:
        return -1, time.monotonic() - started
    return response.status_code, time.monotonic() - started


def stored_messages(server: AudienceServer) -> list[dict[str, Any]]:
    with server.admin() as admin:
        return admin.events()


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS line")


def descriptor_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    return apply


def start_server(folder: Path, env: dict[str, str], **options: Any) -> AudienceServer:
    data = folder / "data"
    created = CliRunner().invoke(
        main, ["sources", "create", "web", "--write-key", WRITE_KEY, "--data", str(data)]
    )
    assert created.exit_code == 0, created.output
    server = AudienceServer(data, folder / "serve.log", admin_token=ADMIN_TOKEN, env=env, **options)
    server.start()
    return server


@pytest.fixture(scope="module", autouse=True)
def enough_client_descriptors() -> None:
    """The floods open over a thousand sockets from this process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4096 if hard == resource.RLIM_INFINITY else min(4096, hard)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AudienceServer]:
    """``audience serve`` with short timeouts and a hard limit of 1,024 descriptors."""
    started = start_server(
        tmp_path_factory.mktemp("limits"),
        SHORT_LIMITS,
        preexec_fn=descriptor_limit(DESCRIPTOR_LIMIT),
    )
    yield started
    started.stop()


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AudienceServer]:
    """``audience serve`` admitting 16 connections, its header timeout long enough to fill them."""
    started = start_server(
        tmp_path_factory.mktemp("capped"),
        {
            **SHORT_LIMITS,
            "AUDIENCE_HTTP_HEADER_TIMEOUT": "8",
            "AUDIENCE_HTTP_MAX_CONNECTIONS": str(CAP),
        },
    )
    yield started
    started.stop()


def test_an_idle_flood_past_the_descriptor_limit_leaves_a_good_request_answered(
    server: AudienceServer,
) -> None:
    """1,100 silent connections to a server allowed 1,024 descriptors do not refuse a visitor."""
    flood = [Raw(server.port) for _ in range(1100)]
    try:
        status, elapsed = timed_track(server.url, "idle-flood-good")
        assert status == 200
        assert elapsed < 1.0
        assert wait_closed(flood, HEADER_TIMEOUT + MARGIN) == []
        assert all(c.closed_at - c.opened < HEADER_TIMEOUT + MARGIN for c in flood)  # type: ignore[operator]
        assert all(c.received == b"" for c in flood), "a connection that sent nothing gets nothing"
    finally:
        for connection in flood:
            connection.close()
    assert timed_track(server.url, "idle-flood-after")[0] == 200
    assert "Too many open files" not in server.log()


def test_slowloris_headers_are_cut_at_the_header_timeout_however_slowly_they_trickle(
    server: AudienceServer,
) -> None:
    """A byte every 0.1 s does not extend the header timeout, counted from the connection's open."""
    slow = [Raw(server.port) for _ in range(200)]
    stop = threading.Event()

    def trickle() -> None:
        for connection in slow:
            connection.send(b"POST /v1/track HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        while not stop.is_set():
            for connection in slow:
                if connection.closed_at is None:
                    connection.send(b"a")
            stop.wait(0.1)

    trickler = threading.Thread(target=trickle)
    trickler.start()
    try:
        time.sleep(0.5)
        status, elapsed = timed_track(server.url, "slowloris-good")
        assert status == 200
        assert elapsed < 1.0
        assert wait_closed(slow, HEADER_TIMEOUT + MARGIN) == []
    finally:
        stop.set()
        trickler.join()
        for connection in slow:
            connection.close()
    for connection in slow:
        assert connection.closed_at is not None
        assert (
            HEADER_TIMEOUT * 0.8
            < connection.closed_at - connection.opened
            < HEADER_TIMEOUT + MARGIN
        )
        assert connection.received.startswith(b"HTTP/1.1 408 "), connection.received[:80]
        assert b"connection: close" in connection.received


def test_stalled_and_dripping_bodies_are_cut_at_the_body_timeout(server: AudienceServer) -> None:
    """A promised body that stops, or drips below the minimum rate, is cut with a 408."""
    stalled = [Raw(server.port) for _ in range(50)]
    dripping = [Raw(server.port) for _ in range(20)]
    head = f"{TRACK_HEAD}Content-Length: 1000\r\n\r\n".encode()
    for connection in stalled:
        connection.send(head + b'{"userId":')
    for connection in dripping:
        connection.send(head)
    sent_at = time.monotonic()
    stop = threading.Event()

    def drip() -> None:
        while not stop.wait(0.2):
            for connection in dripping:
                if connection.closed_at is None:
                    connection.send(b" ")

    dripper = threading.Thread(target=drip)
    dripper.start()
    try:
        time.sleep(0.5)
        status, elapsed = timed_track(server.url, "stalled-good")
        assert status == 200
        assert elapsed < 1.0
        assert wait_closed(stalled + dripping, BODY_TIMEOUT + MARGIN) == []
    finally:
        stop.set()
        dripper.join()
        for connection in stalled + dripping:
            connection.close()
    for connection in stalled + dripping:
        assert connection.closed_at is not None
        assert BODY_TIMEOUT * 0.8 < connection.closed_at - sent_at < BODY_TIMEOUT + MARGIN
        assert connection.received.startswith(b"HTTP/1.1 408 "), connection.received[:80]


def test_a_body_cut_at_the_timeout_is_not_stored_even_when_its_start_is_valid_json(
    server: AudienceServer,
) -> None:
    """The client of a cut body was answered 408, so the part that arrived must not be kept."""
    partial = orjson.dumps({"userId": "u1", "event": "Cut", "messageId": "cut-body"})
    connection = Raw(server.port)
    connection.send(f"{TRACK_HEAD}Content-Length: {len(partial) + 100}\r\n\r\n".encode())
    connection.send(partial)
    try:
        assert wait_closed([connection], BODY_TIMEOUT + MARGIN) == []
    finally:
        connection.close()
    assert connection.received.startswith(b"HTTP/1.1 408 ")
    assert timed_track(server.url, "after-cut")[0] == 200  # committed after anything the cut one
    message_ids = {event["messageId"] for event in stored_messages(server)}
    assert "after-cut" in message_ids
    assert "cut-body" not in message_ids


def test_a_header_flood_is_cut_without_growing_the_servers_memory(server: AudienceServer) -> None:
    """Four connections each offering a 16 MB header leave the server's memory where it was."""
    assert server.process is not None
    pid = server.process.pid
    for n in range(20):
        assert timed_track(server.url, f"flood-warm-{n}")[0] == 200
    before = rss_bytes(pid)
    ended: list[float] = []
    chunk = b"a" * 65536

    def flood() -> None:
        connection = Raw(server.port)
        connection.send(b"POST /v1/track HTTP/1.1\r\nHost: x\r\nX-Flood: ")
        for _ in range(256):  # 16 MB
            if not connection.send(chunk):
                break
        wait_closed([connection], 30)
        ended.append(time.monotonic() - connection.opened)
        connection.close()

    floods = [threading.Thread(target=flood) for _ in range(4)]
    for thread in floods:
        thread.start()
    try:
        time.sleep(0.2)
        status, elapsed = timed_track(server.url, "header-flood-good")
        assert status == 200
        assert elapsed < 1.0
    finally:
        for thread in floods:
            thread.join(timeout=40)
    assert len(ended) == 4, "the server did not cut every flooding connection"
    assert max(ended) < 10
    grown = rss_bytes(pid) - before
    assert grown < 24 * 1024 * 1024, f"the server grew by {grown / 1e6:.0f} MB"


def test_an_oversized_header_block_gets_431_while_big_cookies_pass(server: AudienceServer) -> None:
    cookies = Raw(server.port)
    cookies.send(track_request("big-cookie", "Cookie: " + "c" * 30_000 + "\r\n"))
    assert cookies.response()[0] == 200
    cookies.close()
    oversized = Raw(server.port)
    oversized.send(track_request("too-big", "Cookie: " + "c" * 64_000 + "\r\n"))
    status, headers, body = oversized.response()
    assert status == 431
    assert headers["connection"] == "close"
    reply = orjson.loads(body)
    assert reply["code"] == "header_too_large"
    assert "32768 bytes" in reply["message"]
    assert wait_closed([oversized], MARGIN) == []
    oversized.close()


def test_keep_alive_serves_many_requests_on_one_connection_then_closes_it_when_idle(
    server: AudienceServer,
) -> None:
    connection = Raw(server.port)
    for n in range(50):
        assert connection.send(track_request(f"keep-alive-{n}"))
        status, headers, _ = connection.response()
        assert status == 200
        assert headers.get("connection") != "close"
    answered = time.monotonic()
    assert wait_closed([connection], KEEP_ALIVE_TIMEOUT + MARGIN) == []
    assert connection.closed_at is not None
    idle = connection.closed_at - answered
    assert KEEP_ALIVE_TIMEOUT / 2 < idle < KEEP_ALIVE_TIMEOUT + MARGIN
    assert connection.received == b""
    connection.close()


def test_pipelined_chunked_and_expect_continue_requests_are_answered(
    server: AudienceServer,
) -> None:
    connection = Raw(server.port)
    # 200 pipelined requests, over 32 KiB in all: heads cross the server's read chunks.
    pipelined = b"".join(track_request(f"pipelined-{n}") for n in range(200))
    assert len(pipelined) > 32768
    connection.send(pipelined)
    assert [connection.response()[0] for _ in range(200)] == [200] * 200
    body = track_body("chunked")
    connection.send(
        f"{TRACK_HEAD}Transfer-Encoding: chunked\r\n\r\n".encode()
        + b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:10], body[10:]))
        + b"0\r\n\r\n"
    )
    assert connection.response()[0] == 200
    body = track_body("expect-continue")
    connection.send(
        f"{TRACK_HEAD}Expect: 100-continue\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    )
    assert connection.response()[0] == 100
    connection.send(body)
    assert connection.response()[0] == 200
    # No route speaks WebSocket: an upgrade is answered as plain HTTP on the same connection.
    connection.send(
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    )
    assert connection.response()[0] == 200
    connection.send(track_request("after-upgrade"))
    assert connection.response()[0] == 200
    connection.close()
    stored = {event["messageId"] for event in stored_messages(server)}
    assert {
        "pipelined-0",
        "pipelined-1",
        "pipelined-2",
        "chunked",
        "expect-continue",
        "after-upgrade",
    } <= stored


def test_a_client_that_does_not_read_its_responses_is_dropped(server: AudienceServer) -> None:
    """Responses piling up unread for the body timeout end the connection."""
    with httpx.Client(base_url=server.url, auth=(WRITE_KEY, ""), timeout=5) as client:
        for n in range(100):
            reply = client.post("/v1/track", content=track_body(f"big-response-{n}"))
            assert reply.status_code == 200
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    read_events = (
        "GET /api/events?limit=1000 HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {ADMIN_TOKEN}\r\n\r\n"
    ).encode()
    sock.sendall(read_events * 200)
    time.sleep(BODY_TIMEOUT + MARGIN)
    sock.settimeout(5)
    received = b""
    ended = False
    while not ended:
        try:
            chunk = sock.recv(1 << 20)
        except ConnectionResetError:
            ended = True
            break
        except TimeoutError:
            break
        ended = not chunk
        received += chunk
    sock.close()
    assert ended
    assert received.count(b"HTTP/1.1 200 ") < 200


def test_a_loopback_x_forwarded_for_is_not_believed_without_a_trusted_proxy(
    server: AudienceServer,
) -> None:
    connection = Raw(server.port)
    connection.send(track_request("forwarded", "X-Forwarded-For: 203.0.113.9\r\n"))
    assert connection.response()[0] == 200
    connection.close()
    event = next(e for e in stored_messages(server) if e["messageId"] == "forwarded")
    assert event["context"]["ip"] == "127.0.0.1"


def test_a_connection_past_the_cap_is_answered_503_with_retry_after_and_closed(
    capped: AudienceServer,
) -> None:
    """When every admitted connection is mid-request, a new one is refused, never left hanging."""
    busy = [Raw(capped.port) for _ in range(CAP)]
    for connection in busy:
        connection.send(b"POST /v1/track HTTP/1.1\r\nHost: x\r\n")
    time.sleep(0.5)
    try:
        refused = Raw(capped.port)
        refused.send(track_request("refused"))
        started = time.monotonic()
        status, headers, body = refused.response()
        assert time.monotonic() - started < 1.0
        assert status == 503
        assert headers["retry-after"] == "1"
        assert headers["connection"] == "close"
        assert orjson.loads(body)["code"] == "too_many_connections"
        assert wait_closed([refused], MARGIN) == []
        refused.close()
    finally:
        for connection in busy:
            connection.close()
    time.sleep(0.3)
    assert timed_track(capped.url, "after-the-cap")[0] == 200


def test_at_the_cap_the_longest_idle_connection_makes_room_for_a_new_visitor(
    capped: AudienceServer,
) -> None:
    idle = []
    for _ in range(CAP):
        idle.append(Raw(capped.port))
        time.sleep(0.02)
    time.sleep(0.3)
    try:
        status, elapsed = timed_track(capped.url, "evicting")
        assert status == 200
        assert elapsed < 1.0
        still_open = wait_closed(idle, 0.5)
        assert idle[0] not in still_open, "the longest-idle connection was not closed"
        assert len(still_open) >= CAP - 2, "more idle connections were closed than needed"
    finally:
        for connection in idle:
            connection.close()


def test_serve_with_workers_applies_the_same_limits(tmp_path: Path) -> None:
    """Every worker process of ``serve --workers 2`` cuts slow headers and refuses huge ones."""
    with fresh_schema() as database:
        created = CliRunner().invoke(
            main, ["sources", "create", "web", "--write-key", WRITE_KEY, "--database-url", database]
        )
        assert created.exit_code == 0, created.output
        workers = AudienceServer(
            tmp_path / "data",
            tmp_path / "serve.log",
            admin_token=ADMIN_TOKEN,
            extra_args=("--workers", "2", "--database-url", database),
            env=SHORT_LIMITS,
        )
        workers.start()
        try:
            # Several connections, so both workers get some.
            slow = [Raw(workers.port) for _ in range(8)]
            for connection in slow:
                connection.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            oversized = Raw(workers.port)
            oversized.send(track_request("workers-too-big", "Cookie: " + "c" * 64_000 + "\r\n"))
            assert oversized.response()[0] == 431
            oversized.close()
            assert wait_closed(slow, HEADER_TIMEOUT + MARGIN) == []
            assert all(c.received.startswith(b"HTTP/1.1 408 ") for c in slow)
            for connection in slow:
                connection.close()
            forwarded = Raw(workers.port)
            forwarded.send(track_request("workers-forwarded", "X-Forwarded-For: 203.0.113.9\r\n"))
            assert forwarded.response()[0] == 200
            forwarded.close()
            event = next(
                e for e in stored_messages(workers) if e["messageId"] == "workers-forwarded"
            )
            assert event["context"]["ip"] == "127.0.0.1"
        finally:
            workers.stop()
