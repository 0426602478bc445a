"""The collector's side of the log: an ``EventSink`` that publishes to JetStream.

``append`` publishes every record of a request at once (all in flight together, then every
acknowledgement gathered), each to its partition's subject with ``Nats-Msg-Id`` set, and
resolves only when JetStream acknowledged them all: with replicas, once they are replicated.
A resend JetStream recognises within its window is acknowledged as a duplicate and counted as
one. The future fails with ``StorageError`` (the collector answers 503 with ``Retry-After``)
when the log is unreachable, or when any publish is refused or not acknowledged within the
publish timeout: a 200 is never given for an event the log may not have.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import Future

from nats.js.api import PubAck

from audience.errors import StorageError
from audience.log.envelope import MESSAGE_ID_HEADER, encode, message_id_of
from audience.log.link import NatsLink
from audience.log.partitions import partition_key, partition_of, subject_of
from audience.storage.base import AppendResult, EventRecord


class JetStreamLog:
    """Publishes accepted events to the stream of ``link``, partitioned by identity."""

    def __init__(self, link: NatsLink) -> None:
        self._link = link
        options = link.options
        self._subjects = [subject_of(options.prefix, p) for p in range(options.partitions)]
        self._stream = options.prefix
        self._timeout = options.publish_timeout

    def subject_for(self, record: EventRecord) -> str:
        """The subject of ``record``'s partition."""
        key = partition_key(record.anonymous_id, record.user_id, record.message_id)
        return self._subjects[partition_of(key, len(self._subjects))]

    def append(self, records: Sequence[EventRecord]) -> Future[AppendResult]:
        """Publish ``records``; the future resolves once JetStream acknowledged every one."""
        return self._link.submit(self._publish(list(records)))

    def append_async(self, records: Sequence[EventRecord]) -> asyncio.Future[AppendResult]:
        """``append`` from a running event loop: the returned future belongs to that loop."""
        return asyncio.wrap_future(self.append(records))

    async def _publish(self, records: list[EventRecord]) -> AppendResult:
        js = self._link.jetstream()
        acks = await asyncio.gather(
            *(
                js.publish(
                    self.subject_for(record),
                    encode(record),
                    timeout=self._timeout,
                    stream=self._stream,
                    headers={MESSAGE_ID_HEADER: message_id_of(record)},
                )
                for record in records
            ),
            return_exceptions=True,
        )
        failures = [ack for ack in acks if not isinstance(ack, PubAck)]
        if failures:
            raise StorageError(
                f"the event log acknowledged {len(acks) - len(failures)} of {len(acks)} "
                f"events: {failures[0]!r}"
            )
        duplicates = sum(1 for ack in acks if isinstance(ack, PubAck) and ack.duplicate)
        return AppendResult(len(records) - duplicates, duplicates)
