"""The collector's side of the log: an ``EventSink`` that publishes to JetStream.

``append`` publishes every record of a request at once (all in flight together, their
acknowledgements gathered by one subscription), each to its partition's subject with
``Nats-Msg-Id`` set, and resolves only when JetStream acknowledged them all: with replicas,
once they are replicated. A resend JetStream recognises within its window is acknowledged as a
duplicate and counted as one. The future fails with ``StorageError`` (the collector answers
503 with ``Retry-After``) when the log is unreachable, or when any publish is refused or not
acknowledged within the publish timeout: a 200 is never given for an event the log may not
have.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import Future

from nats.js.api import PubAck

from audience.errors import StorageError
from audience.log.envelope import MESSAGE_ID_HEADER, encode, message_id_of
from audience.log.link import LOG_ERRORS, NatsLink
from audience.log.partitions import partition_key, partition_of, subject_of
from audience.storage.base import AppendResult, EventRecord


class JetStreamLog:
    """Publishes accepted events to the stream of ``link``, partitioned by identity."""

    def __init__(self, link: NatsLink) -> None:
        self._link = link
        options = link.options
        self._subjects = [subject_of(options.prefix, p) for p in range(options.partitions)]
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
        js = self._link.publisher()
        pending: list[asyncio.Future[PubAck]] = []

        async def publish_all() -> list[PubAck]:
            for record in records:
                pending.append(
                    await js.publish_async(
                        self.subject_for(record),
                        encode(record),
                        headers={MESSAGE_ID_HEADER: message_id_of(record)},
                    )
                )
            return await asyncio.gather(*pending)

        try:
            # One timer for the whole request, not one per event: the publish timeout bounds it.
            acks = await asyncio.wait_for(publish_all(), self._timeout)
        except LOG_ERRORS as exc:
            for waiting in pending:
                waiting.cancel()
            raise StorageError(f"the event log did not acknowledge the events: {exc!r}") from exc
        duplicates = sum(1 for ack in acks if ack.duplicate)
        return AppendResult(len(records) - duplicates, duplicates)
