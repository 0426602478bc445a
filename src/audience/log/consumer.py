"""The log's first consumer: the writer that appends each partition to the event store.

One durable pull consumer per partition (``<prefix>-writer-<partition>``, acknowledged
explicitly) fetches a batch, appends it to the event store through its ``EventSink`` (which
drops what it already has by (source, messageId)), and acknowledges the messages only once
that commit is durable. Killed at any point, the writer loses nothing (what it had not
acknowledged is delivered again) and applies nothing twice (the store's dedupe). Each
partition is read by one loop, in order, so one person's events reach the store in the order
the log has them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from concurrent.futures import Future
from typing import Final

from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from audience.errors import StorageError
from audience.log.envelope import decode
from audience.log.link import CLOSE_SECONDS, LOG_ERRORS, NatsLink
from audience.log.partitions import subject_of
from audience.storage.base import EventRecord, EventSink

logger = logging.getLogger(__name__)

BATCH: Final = 1000
"""Most messages one fetch takes from a partition: one store commit."""

FETCH_SECONDS: Final = 1.0
"""How long one fetch waits for messages when the partition is idle."""

ACK_WAIT: Final = 30.0
"""Seconds JetStream waits for an acknowledgement before it delivers a message again."""

RETRY_SECONDS: Final = 0.5
"""Pause after a failed fetch, subscription or commit before the next try."""


class LogWriter:
    """Appends every partition of ``link``'s stream to ``sink``; a component of the application."""

    def __init__(self, link: NatsLink, sink: EventSink, batch: int = BATCH) -> None:
        self._link = link
        self._sink = sink
        self._batch = batch
        self._loops: list[Future[None]] = []
        self._stopping = threading.Event()

    async def start(self) -> None:
        """Begin consuming every partition (the link must be opened first)."""
        self._link.open()
        self._loops = [
            self._link.submit(self._consume(partition))
            for partition in range(self._link.options.partitions)
        ]

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
                try:
                    messages = await subscription.fetch(self._batch, timeout=FETCH_SECONDS)
                except (TimeoutError, NatsTimeout):
                    continue  # nothing new in the partition
                except LOG_ERRORS as exc:
                    logger.warning("partition %d: fetching failed: %r", partition, exc)
                    await asyncio.sleep(RETRY_SECONDS)
                    continue
                records: list[EventRecord] = []
                kept = []
                for message in messages:
                    try:
                        records.append(decode(message.data))
                        kept.append(message)
                    except StorageError:
                        logger.exception("partition %d: dropping a message", partition)
                        await message.term()
                if not records:
                    continue
                try:
                    await asyncio.wrap_future(self._sink.append(records))
                except Exception:
                    logger.exception("partition %d: storing %d events failed", partition, len(kept))
                    for message in kept:
                        with contextlib.suppress(Exception):
                            await message.nak(delay=RETRY_SECONDS)
                    await asyncio.sleep(RETRY_SECONDS)
                    continue
                for message in kept:
                    await message.ack()
