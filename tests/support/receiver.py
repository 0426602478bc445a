"""A real HTTP webhook receiver on loopback that can be down, failing, slow or healthy."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from support.ports import free_port


@dataclass
class Received:
    """One request the receiver accepted: its body (inflated when it came gzipped) and headers."""

    body: bytes
    headers: dict[str, str]
    peer: tuple[str, int] = ("", 0)
    """The sender's address and port: requests on one kept-alive connection share it."""

    @property
    def batch(self) -> list[dict[str, Any]]:
        """The messages of the webhook batch."""
        return list(json.loads(self.body)["batch"])


@dataclass
class Receiver:
    """Records every request; answers the statuses queued in ``answers``, then 200.

    With a ``gate``, every request waits until the gate opens before it is answered. Answers
    other than 200 carry ``retry_after`` as their ``Retry-After`` header when it is set. A
    ``judge`` answers each request the queued answers leave to 200, from what it holds: the
    status it returns is sent instead (and only 200s are recorded). With ``keep_alive`` it
    speaks HTTP/1.1 and keeps connections open between requests (a kept connection outlives
    ``stop``, so a receiver that goes down in a test does not keep them).
    """

    port: int = field(default_factory=free_port)
    answers: list[int] = field(default_factory=list)
    retry_after: str | None = None
    delay: float = 0.0
    gate: threading.Event | None = None
    judge: Callable[[Received], int] | None = None
    keep_alive: bool = False
    requests: list[Received] = field(default_factory=list)
    started: int = 0
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        """Where the webhook posts: ``http://127.0.0.1:PORT/hook``."""
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        """Listen (again) on ``port``; until then the port refuses connections."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if receiver.keep_alive else "HTTP/1.0"

            def do_POST(self) -> None:
                with receiver._lock:
                    receiver.started += 1
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                peer = (str(self.client_address[0]), int(self.client_address[1]))
                received = Received(body, dict(self.headers.items()), peer)
                if receiver.delay:
                    threading.Event().wait(receiver.delay)
                if receiver.gate is not None:
                    receiver.gate.wait(60)
                with receiver._lock:
                    status = receiver.answers.pop(0) if receiver.answers else 200
                    if status == 200 and receiver.judge is not None:
                        status = receiver.judge(received)
                    if status == 200:
                        receiver.requests.append(received)
                self.send_response(status)
                if status != 200 and receiver.retry_after is not None:
                    self.send_header("Retry-After", receiver.retry_after)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening; the port refuses connections again."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def message_ids(self) -> list[str]:
        """The ``messageId`` of every message accepted, in the order received."""
        with self._lock:
            return [message["messageId"] for request in self.requests for message in request.batch]
