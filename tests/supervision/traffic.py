"""Senders that post batches to a real collector without pause, noting every answer."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from support import wait_for

BATCH = 20
"""Events per batch."""


@dataclass
class Senders:
    """``clients`` threads posting fresh batches to ``url`` until ``stop``.

    Each batch's messages are acknowledged when the collector answers 200. Anything else
    (another status, a timeout, a refused connection) is noted in ``failures``; with
    ``until_refused`` a sender stops at its first transport error, as while a server stops.
    ``slowest`` is the longest any answer took. Each client sends as its own user,
    ``sender-<n>``.
    """

    url: str
    write_key: str
    clients: int = 4
    timeout: float = 15.0
    until_refused: bool = False
    acknowledged: set[str] = field(default_factory=set)
    per_user: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    slowest: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        for client in range(self.clients):
            thread = threading.Thread(target=self._send, args=(client,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 5)

    def count(self) -> int:
        with self._lock:
            return len(self.acknowledged)

    def wait_for_more(self, events: int, seconds: float = 60.0) -> None:
        """Wait until ``events`` more events than now have been acknowledged."""
        target = self.count() + events
        wait_for(lambda: self.count() >= target, seconds, f"{target} acknowledged events")

    def _send(self, client: int) -> None:
        user = f"sender-{client}"
        with httpx.Client(base_url=self.url, timeout=self.timeout) as http:
            number = 0
            while not self._stop.is_set():
                number += 1
                ids = [f"{user}-{number}-{index}" for index in range(BATCH)]
                batch = [
                    {"type": "track", "event": "Load", "userId": user, "messageId": message_id}
                    for message_id in ids
                ]
                started = time.monotonic()
                try:
                    answer = http.post(
                        "/v1/batch", json={"batch": batch}, auth=(self.write_key, "")
                    )
                except httpx.TransportError as exc:
                    self._note(started, f"{user} batch {number}: {type(exc).__name__}")
                    if self.until_refused:
                        return
                    continue
                if answer.status_code == 200:
                    with self._lock:
                        self.acknowledged.update(ids)
                        self.per_user[user] += len(ids)
                    self._note(started, None)
                else:
                    self._note(started, f"{user} batch {number}: {answer.status_code}")

    def _note(self, started: float, failure: str | None) -> None:
        took = time.monotonic() - started
        with self._lock:
            self.slowest = max(self.slowest, took)
            if failure is not None:
                self.failures.append(failure)
