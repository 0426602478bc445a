"""A real HTTP collector on loopback that misbehaves on cue, as real servers do."""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Answer:
    """How to answer one request: a status, extra headers, and a delay before answering."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Received:
    """One request the server answered."""

    at: float
    path: str
    status: int
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def batch(self) -> list[dict[str, Any]]:
        return list(self.body["batch"])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: MisbehavingServer

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        answer = self.server.answer_for(raw)
        self.server.record(
            Received(
                time.monotonic(),
                self.path,
                answer.status,
                dict(self.headers.items()),
                json.loads(raw),
            )
        )
        if answer.delay:
            time.sleep(answer.delay)
        with contextlib.suppress(OSError):  # the client may have given up waiting
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


class MisbehavingServer(ThreadingHTTPServer):
    """Answers from a script of ``Answer``s (then 200s) and keeps every request it answered."""

    daemon_threads = True

    def __init__(self, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self._script: deque[Answer] = deque()
        self._poisons: dict[bytes, Answer] = {}
        self._max_body: int | None = None
        self._lock = threading.Lock()
        self.received: list[Received] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def script(self, *answers: Answer) -> None:
        with self._lock:
            self._script.extend(answers)

    def answer_normally(self) -> None:
        """Forget the rest of the script and the poisons: every request gets a 200 from now on."""
        with self._lock:
            self._script.clear()
            self._poisons.clear()
            self._max_body = None

    def fail_batches_containing(self, marker: str, answer: Answer) -> None:
        """Answer ``answer`` to every batch whose body holds ``marker``, before the script: a
        collector that chokes on one message and takes all the others."""
        with self._lock:
            self._poisons[marker.encode()] = answer

    def limit_body(self, max_bytes: int) -> None:
        """Answer 413 to every body over ``max_bytes`` (inflated), before the script."""
        with self._lock:
            self._max_body = max_bytes

    def answer_for(self, body: bytes) -> Answer:
        with self._lock:
            if self._max_body is not None and len(body) > self._max_body:
                return Answer(413)
            for marker, answer in self._poisons.items():
                if marker in body:
                    return answer
            return self._script.popleft() if self._script else Answer()

    def record(self, received: Received) -> None:
        with self._lock:
            self.received.append(received)

    def requests_holding(self, marker: str) -> list[Received]:
        """The requests that carried a message with ``marker`` somewhere in it."""
        with self._lock:
            return [r for r in self.received if marker in json.dumps(r.body)]

    def delivered(self) -> list[dict[str, Any]]:
        """Every message of every request answered with a 2xx."""
        with self._lock:
            return [m for r in self.received if 200 <= r.status < 300 for m in r.batch]

    def delivered_once(self) -> list[dict[str, Any]]:
        """Delivered messages counted once per messageId, as a deduplicating collector keeps them
        (a request the client gave up on may have been answered after all, then sent again)."""
        unique: dict[str, dict[str, Any]] = {}
        for message in self.delivered():
            unique.setdefault(message["messageId"], message)
        return list(unique.values())

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(5)


def basic_auth(write_key: str) -> str:
    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
