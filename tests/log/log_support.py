"""What the log's tests share: ``audience serve`` processes on the log, sending batches, and
reading what the stores and the stream hold."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections import Counter
from collections.abc import Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import nats

from audience.identity.identifiers import Identifier
from audience.resolution.postgres_profiles import PostgresProfileStore
from audience.storage.postgres_events import PostgresEventStore
from support import AudienceServer

WRITE_KEY = "log-tests-key"
ADMIN_TOKEN = "log-tests-admin-token-0123456789abcdef"


def log_server(
    folder: Path, name: str, log: str, role: str, *, database: str | None = None, **extra: str
) -> AudienceServer:
    """``audience serve --log LOG --role ROLE`` (on PostgreSQL when ``database`` is given,
    else on SQLite with the source ``web``); ``extra`` become ``--name value`` flags."""
    args = ["--log", log, "--role", role]
    for flag, value in extra.items():
        args += [f"--{flag.replace('_', '-')}", value]
    if database is not None:
        args += ["--database-url", database]
    return AudienceServer(
        folder / name,
        folder / f"{name}.log",
        admin_token=ADMIN_TOKEN,
        sources={} if database is not None else {"web": WRITE_KEY},
        extra_args=args,
        env={"AUDIENCE_LOG_LEVEL": "warning"},
    )


def batch_of(prefix: str, number: int, size: int) -> list[dict[str, Any]]:
    """Batch ``number`` of ``size`` tracks, each by a visitor of its own, ids unique."""
    return [
        {
            "type": "track",
            "event": "Viewed",
            "anonymousId": f"{prefix}-anon-{number}-{index}",
            "messageId": f"{prefix}-{number}-{index}",
        }
        for index in range(size)
    ]


def send(url: str, batch: Sequence[dict[str, Any]], timeout: float = 30.0) -> httpx.Response:
    """POST ``batch`` to ``/v1/batch`` of ``url`` with the tests' write key."""
    return httpx.post(
        f"{url}/v1/batch", json={"batch": list(batch)}, auth=(WRITE_KEY, ""), timeout=timeout
    )


TRAFFIC_SECONDS = 300.0
"""The longest a ``Traffic`` sends, should a test never stop it."""


T = TypeVar("T")


def run_apart(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coroutine)`` on a thread of its own: the test's thread may already run an
    event loop (the browser tests' Playwright leaves one), where ``asyncio.run`` refuses."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


class Traffic:
    """Batches sent in a thread, round-robin over ``urls``, until ``stop``; ``acked`` holds the
    message ids of every batch answered 200, ``sent`` those of every batch sent (a batch whose
    answer was lost or late may be stored all the same), ``refused`` counts the other answers."""

    def __init__(self, urls: Sequence[str], prefix: str, size: int = 10) -> None:
        self._urls = list(urls)
        self._prefix = prefix
        self._size = size
        self._stop = threading.Event()
        self.acked: list[str] = []
        self.sent: list[str] = []
        self.refused = 0
        self.batches = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)

    def _run(self) -> None:
        number = 0
        deadline = time.monotonic() + TRAFFIC_SECONDS  # bounded, whatever happens
        with httpx.Client(timeout=30.0) as http:
            while not self._stop.is_set() and time.monotonic() < deadline:
                batch = batch_of(self._prefix, number, self._size)
                url = self._urls[number % len(self._urls)]
                self.sent.extend(message["messageId"] for message in batch)
                try:
                    reply = http.post(
                        f"{url}/v1/batch", json={"batch": batch}, auth=(WRITE_KEY, "")
                    )
                except httpx.TransportError:
                    self.refused += 1
                else:
                    if reply.status_code == 200:
                        self.acked.extend(message["messageId"] for message in batch)
                    else:
                        self.refused += 1
                number += 1
                self.batches = number


def stored_ids(database: str) -> Counter[str]:
    """How many times each message id is in the PostgreSQL event store."""
    with PostgresEventStore.open(database) as events:
        return Counter(str(event.message["messageId"]) for event in events.read_after(0, 1_000_000))


def unresolved(database: str, message_ids: Sequence[str]) -> list[str]:
    """The message ids (of ``batch_of``) whose visitor has no profile yet."""
    profiles = PostgresProfileStore(database)
    try:
        missing = []
        for message_id in message_ids:
            prefix, number, index = message_id.rsplit("-", 2)
            anonymous_id = f"{prefix}-anon-{number}-{index}"
            if profiles.lookup(Identifier("anonymous_id", anonymous_id)) is None:
                missing.append(message_id)
        return missing
    finally:
        profiles.close()


def stream_messages(servers: str, stream: str = "audience") -> int:
    """How many messages the JetStream stream holds, asked of the cluster directly."""

    async def ask() -> int:
        client = await nats.connect(servers.split(","), connect_timeout=5)
        try:
            info = await client.jetstream().stream_info(stream)
            return int(info.state.messages)
        finally:
            await client.close()

    return run_apart(ask())


def metric(text: str, name: str) -> float:
    """The value of the sample ``name`` (with its labels) in a /metrics text; 0 when absent."""
    match = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0
