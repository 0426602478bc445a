"""The log's first consumer: the writer that appends each partition to the event store.

One durable pull consumer per partition (``<prefix>-writer-<partition>``, each message
acknowledged explicitly) fetches a batch, appends it to the event store through its
``EventSink`` (which drops what it already has by (source, messageId)), trying again until the
commit succeeds, and acknowledges every message of the batch only once that commit is durable.
Not "all up to this one": after a crash, a later batch's acknowledgement would then cover
messages delivered to the dead writer and never stored.

Only the writer holding the log's writer lease (``lease``) fetches; others wait as standbys
and take over when it dies. Killed at any point, the writer loses nothing (what it had not
acknowledged is delivered again, ``ACK_WAIT`` later) and applies nothing twice (the store's
dedupe). Each partition is read by
one loop, in order, so one person's events reach the store in the order the log has them; only
a redelivery after a crash comes after the messages fetched since.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from concurrent.futures import Future
from typing import Final

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from audience.errors import StorageError
from audience.log.envelope import decode
from audience.log.lease import LeaseState, WriterLease
from audience.log.link import CLOSE_SECONDS, LOG_ERRORS, NatsLink
from audience.log.partitions import subject_of
from audience.storage.base import EventRecord, EventSink

logger = logging.getLogger(__name__)

BATCH: Final = 1000
"""Most messages one fetch takes from a partition: one store commit."""

FETCH_SECONDS: Final = 1.0
"""How long one fetch waits for messages when the partition is idle."""

ACK_WAIT: Final = 10.0
"""Seconds JetStream waits for an acknowledgement before it delivers a message again: what a
writer killed mid-batch had fetched reaches its successor after this long (a commit that takes
longer gets its batch delivered twice, and the store drops the second)."""

RETRY_SECONDS: Final = 0.5
"""Pause after a failed fetch, subscription or commit before the next try."""


class LogWriter:
    """Appends every partition of ``link``'s stream to ``sink``; a component of the application."""

    def __init__(self, link: NatsLink, sink: EventSink, holder: str, batch: int = BATCH) -> None:
        self._link = link
        self._sink = sink
        self._batch = batch
        self._lease = WriterLease(link, holder)
        self._loops: list[Future[None]] = []
        self._stopping = threading.Event()

    def lease_state(self) -> LeaseState:
        """Whether this writer holds the writer lease (``holder``) or waits (``standby``)."""
        return self._lease.state()

    async def start(self) -> None:
        """Ask for the lease and begin consuming every partition (the link must be opened
        first)."""
        self._link.open()
        self._loops = [self._link.submit(self._lease.run(self._running))]
        self._loops.extend(
            self._link.submit(self._consume(partition))
            for partition in range(self._link.options.partitions)
        )

    async def stop(self) -> None:
        """Let each loop finish its batch (``CLOSE_SECONDS`` at most), then cancel it."""
        await asyncio.to_thread(self._join)

    def _join(self) -> None:
        self._stopping.set()
        for loop in self._loops:
            with contextlib.suppress(BaseException):
                loop.result(CLOSE_SECONDS)
            loop.cancel()

    def _running(self) -> bool:
        return not (self._stopping.is_set() or self._link.stopping)

    async def _consume(self, partition: int) -> None:
        options = self._link.options
        name = options.writer_name(partition)
        subject = subject_of(options.prefix, partition)
        config = ConsumerConfig(
            durable_name=name,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            filter_subject=subject,
            ack_wait=ACK_WAIT,
            max_deliver=-1,
        )
        while self._running():
            try:
                js = self._link.jetstream()
                subscription = await js.pull_subscribe(
                    subject, durable=name, stream=options.prefix, config=config
                )
            except LOG_ERRORS as exc:
                logger.debug("partition %d: no consumer yet: %r", partition, exc)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            while self._running():
                if not self._lease.held():
                    await asyncio.sleep(RETRY_SECONDS)
                    continue
                try:
                    messages = await subscription.fetch(self._batch, timeout=FETCH_SECONDS)
                except (TimeoutError, NatsTimeout):
                    continue  # nothing new in the partition
                except LOG_ERRORS as exc:
                    logger.warning("partition %d: fetching failed: %r", partition, exc)
                    await asyncio.sleep(RETRY_SECONDS)
                    continue
                if messages:
                    await self._write(partition, messages)

    async def _write(self, partition: int, messages: list[Msg]) -> None:
        """Append a fetched batch to the store, trying again until it is committed, then
        acknowledge each of its messages."""
        records: list[EventRecord] = []
        for message in messages:
            try:
                records.append(decode(message.data))
            except StorageError:
                logger.exception("partition %d: skipping a message that is no event", partition)
        while records:
            try:
                await asyncio.wrap_future(self._sink.append(records))
                break
            except Exception:
                logger.exception("partition %d: storing %d events failed", partition, len(records))
            if not self._running():
                return  # not acknowledged: delivered again to the next writer
            await asyncio.sleep(RETRY_SECONDS)
        for message in messages:
            await message.ack()
