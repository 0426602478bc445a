"""One connection to the NATS cluster, on an event loop thread of its own.

``NatsLink`` connects in the background and keeps reconnecting for ever (to any server of
the list, or one the cluster told of), makes the stream when it is missing, and reads once a
second how far each partition's writer is behind. The collector's publishes and the writer's
consumers run as coroutines on its loop, submitted from any thread with ``submit``; nothing
waits on the network while it is unreachable: ``jetstream`` fails at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError

from audience.config import Settings
from audience.errors import ConfigError, StorageError
from audience.log.health import LogHealth
from audience.log.partitions import subjects_of

logger = logging.getLogger(__name__)

T = TypeVar("T")

PUBLISH_TIMEOUT: Final = 5.0
"""Seconds a publish (or any JetStream request) waits for its answer before it fails."""

DUPLICATE_WINDOW: Final = 120.0
"""Seconds JetStream remembers a ``Nats-Msg-Id`` to drop a resend; the stores dedupe later ones."""

SAMPLE_INTERVAL: Final = 1.0
"""Seconds between two readings of the stream and the writers' lags."""

LOG_ERRORS: Final = (NatsError, StorageError, OSError, asyncio.TimeoutError)
"""What a request to the log raises when the log cannot answer it."""

MAX_PUBLISHES_IN_FLIGHT: Final = 50_000
"""Publishes of the process awaiting their acknowledgement at once; past it one waits (at most
the publish timeout) for room."""

CLOSE_SECONDS: Final = 3.0
"""How long ``stop`` waits for the connection to close and the loop's thread to end."""


@dataclass(frozen=True)
class LogOptions:
    """Where the log is and how it is laid out: the servers, the stream's name (also the
    subjects' prefix), the partitions and the stream's replicas."""

    servers: tuple[str, ...]
    prefix: str = "audience"
    partitions: int = 4
    replicas: int = 1
    publish_timeout: float = PUBLISH_TIMEOUT

    @classmethod
    def from_settings(cls, settings: Settings) -> LogOptions:
        """The options of ``settings``; ``ConfigError`` when ``log`` is not set."""
        if not settings.log:
            raise ConfigError("log: no NATS servers given (--log nats://host:4222)")
        return cls(
            servers=settings.log,
            prefix=settings.log_prefix,
            partitions=settings.partitions,
            replicas=settings.log_replicas,
        )

    def writer_name(self, partition: int) -> str:
        """The durable consumer that writes ``partition`` to the event store."""
        return f"{self.prefix}-writer-{partition}"


class NatsLink:
    """The connection to the cluster, a component started and stopped with the application."""

    def __init__(self, options: LogOptions, name: str = "audience") -> None:
        self.options = options
        self._name = name
        self._client = Client()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="audience-log", daemon=True
        )
        self._stream_ready = False
        self._publisher: JetStreamContext | None = None
        self._pending: dict[int, int | None] = {}
        self._keeper: Future[None] | None = None
        self._stopping = threading.Event()
        self._complained = False

    @property
    def stopping(self) -> bool:
        """Whether ``stop`` was called: the consumers end their loops."""
        return self._stopping.is_set()

    def open(self) -> None:
        """Start the loop's thread and begin connecting; returns at once."""
        if self._keeper is not None:
            return
        self._thread.start()
        self._keeper = self.submit(self._keep_connected())

    def close(self) -> None:
        """Close the connection and end the loop's thread (waits ``CLOSE_SECONDS`` at most)."""
        if self._keeper is None or self._stopping.is_set():
            return
        self._stopping.set()
        self._keeper.cancel()
        with contextlib.suppress(Exception):
            self.submit(self._close_client()).result(CLOSE_SECONDS)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(CLOSE_SECONDS)
        if not self._thread.is_alive():
            self._loop.close()

    async def start(self) -> None:
        """``open``, as a component of the application."""
        self.open()

    async def stop(self) -> None:
        """``close``, as a component of the application (on a worker thread)."""
        await asyncio.to_thread(self.close)

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> Future[T]:
        """Run ``coroutine`` on the link's loop; its result comes back in the future, which
        fails with ``StorageError`` once the link is closed."""
        try:
            return asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        except RuntimeError:  # the loop has closed
            coroutine.close()
            closed: Future[T] = Future()
            closed.set_exception(StorageError("the event log's connection is closed"))
            return closed

    def health(self) -> LogHealth:
        """The log as last seen; reads a few fields and never waits."""
        return LogHealth(
            servers=self.options.servers,
            reachable=self._client.is_connected,
            stream_ready=self._stream_ready,
            pending=dict(self._pending),
        )

    def jetstream(self) -> JetStreamContext:
        """JetStream over the connection; ``StorageError`` at once when it cannot be used."""
        if not self._client.is_connected:
            raise StorageError(f"the event log ({', '.join(self.options.servers)}) is unreachable")
        if not self._stream_ready:
            raise StorageError(f"the event log's stream {self.options.prefix} is not ready yet")
        return self._client.jetstream(timeout=self.options.publish_timeout)

    def publisher(self) -> JetStreamContext:
        """The one JetStream context the collector publishes through, kept for the connection's
        life: its subscription gathers every acknowledgement. ``StorageError`` as ``jetstream``.

        Call it on the link's loop.
        """
        self.jetstream()
        if self._publisher is None:
            self._publisher = self._client.jetstream(
                timeout=self.options.publish_timeout,
                publish_async_max_pending=MAX_PUBLISHES_IN_FLIGHT,
            )
        return self._publisher

    async def _keep_connected(self) -> None:
        await self._client.connect(
            servers=list(self.options.servers),
            name=self._name,
            connect_timeout=2,
            reconnect_time_wait=0.5,  # type: ignore[arg-type]
            max_reconnect_attempts=-1,
            allow_reconnect=True,
            error_cb=self._error,
            disconnected_cb=self._disconnected,
            reconnected_cb=self._reconnected,
        )
        logger.info("connected to the event log at %s", self._where())
        while not self._stopping.is_set():
            with contextlib.suppress(*LOG_ERRORS):
                await self._look_around()
            await asyncio.sleep(SAMPLE_INTERVAL)

    async def _look_around(self) -> None:
        """Make the stream when missing, then read each writer's lag."""
        if not self._client.is_connected:
            return
        js = self._client.jetstream(timeout=self.options.publish_timeout)
        if not self._stream_ready:
            self._stream_ready = await self._ensure_stream(js)
        pending: dict[int, int | None] = {}
        for partition in range(self.options.partitions):
            name = self.options.writer_name(partition)
            try:
                info = await js.consumer_info(self.options.prefix, name)
            except LOG_ERRORS:
                pending[partition] = None
                continue
            pending[partition] = (info.num_pending or 0) + (info.num_ack_pending or 0)
        self._pending = pending

    async def _ensure_stream(self, js: JetStreamContext) -> bool:
        options = self.options
        try:
            await js.stream_info(options.prefix)
            return True
        except NotFoundError:
            pass
        try:
            await js.add_stream(
                StreamConfig(
                    name=options.prefix,
                    subjects=[subjects_of(options.prefix)],
                    storage=StorageType.FILE,
                    num_replicas=options.replicas,
                    duplicate_window=DUPLICATE_WINDOW,
                )
            )
        except LOG_ERRORS as exc:  # another collector made it first, or too few servers yet
            logger.warning("creating the stream %s failed: %s", options.prefix, exc)
            return False
        logger.info("created the stream %s with %d replica(s)", options.prefix, options.replicas)
        return True

    async def _close_client(self) -> None:
        with contextlib.suppress(Exception):
            await self._client.close()

    async def _error(self, error: Exception) -> None:
        # Reconnecting fails once per try: say it once, until the link is back.
        if not self._complained:
            logger.warning("the event log is unreachable: %r", error)
            self._complained = True

    async def _disconnected(self) -> None:
        logger.warning("disconnected from the event log; reconnecting")

    async def _reconnected(self) -> None:
        self._complained = False
        logger.info("reconnected to the event log at %s", self._where())

    def _where(self) -> str:
        url = self._client.connected_url
        return "?" if url is None else url.netloc
