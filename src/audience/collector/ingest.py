"""Ingestion: validate -> enrich -> commit, the collector's work on a request with no HTTP in it.

With ``details``, each accepted message also gets the context details the operator turned on
(:mod:`audience.collector.context_details`); with ``drop_bots``, a message a known bot sent is
then left out, counted as dropped for the reason ``bot`` but not refused: its request is answered
as if it were stored.

The HTTP routes, ``audience replay`` and tests all go through ``Ingestor``. ``prepare``
turns a parsed request into records and rejections; ``commit`` hands the records to the
store and resolves once they are durable. Without HTTP::

    outcome = parts.ingestor.ingest(Submission("default", {"batch": messages})).result()
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import orjson

from audience.clock import Clock, IdFactory
from audience.collector.context_details import ContextDetails
from audience.collector.enrichment import Arrival, enrich
from audience.collector.validation import Rejection, validate_message
from audience.errors import ValidationError
from audience.jsontypes import JSONObject
from audience.storage.base import AppendResult, EventRecord, EventSink
from audience.tracking import MAX_BATCH_EVENTS, MAX_EVENT_BYTES, MessageType

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    """Size and count limits, each applied to one event at a time.

    An event over ``max_event_bytes``, or past the first ``max_batch_events`` of its batch, is
    refused alone, like any invalid event: the others of its request are stored.
    """

    max_event_bytes: int = MAX_EVENT_BYTES
    max_batch_events: int = MAX_BATCH_EVENTS


@dataclass(frozen=True)
class Submission:
    """One request's worth of messages, parsed but not yet judged.

    ``body`` is the parsed JSON body. ``message_type`` is the type the path names for
    single-event routes (``/v1/track``, ``/v1/t``) and ``None`` for batches, whose body
    is ``{"batch": [...], "context": ..., "integrations": ..., "sentAt": ...}``.
    ``client_ip`` is the visitor's address as far as the server can tell.
    """

    source: str
    body: object
    message_type: MessageType | None = None
    client_ip: str | None = None


@dataclass(frozen=True)
class Filtered:
    """A valid message left out on purpose, and why (``bot``)."""

    reason: str


BOT: Final = Filtered("bot")
"""A message from a known bot, left out because the operator drops bots."""


@dataclass(frozen=True)
class Prepared:
    """A submission judged and enriched: the records to commit and the messages refused.

    ``rejections`` lists every problem found; ``drop_reasons`` counts each refused
    message once, under the code of its first problem. ``filtered`` counts the valid
    messages left out on purpose, by reason: they are not errors of the request.
    """

    source: str
    records: list[EventRecord]
    rejections: list[Rejection]
    drop_reasons: Counter[str]
    filtered: Counter[str] = field(default_factory=Counter)

    @property
    def dropped(self) -> int:
        """How many messages were refused."""
        return sum(self.drop_reasons.values())


@dataclass(frozen=True)
class IngestOutcome:
    """What happened to a submission: events ``stored``, ``duplicates`` and ``dropped``."""

    stored: int
    duplicates: int
    dropped: int = 0
    rejections: tuple[Rejection, ...] = ()


class IngestObserver(Protocol):
    """Counts what ingestion does (metrics); called from any thread."""

    def events_stored(self, source: str, stored: int, duplicates: int) -> None:
        """``stored`` new events were committed and ``duplicates`` were already there."""
        ...

    def events_dropped(self, source: str, reasons: Mapping[str, int]) -> None:
        """Events were refused; ``reasons`` counts them by rejection code."""
        ...


class IngestGate(Protocol):
    """Decides, after validation, whether a valid message is stored (privacy's suppression
    list and semantic events); called on the event loop, so it must not wait on I/O."""

    def screen(self, source: str, message: Mapping[str, object]) -> str | None:
        """``None`` to store the message, else the reason it is left out (counted as filtered)."""
        ...


class Ingestor:
    """Validates, enriches and commits submissions to an ``EventSink``.

    A message the ``gate`` screens out is left out like a filtered one: not stored, not
    reported to the sender (it is no fault of theirs), counted under the gate's reason.
    """

    def __init__(
        self,
        sink: EventSink,
        *,
        clock: Clock,
        ids: IdFactory,
        limits: Limits | None = None,
        observer: IngestObserver | None = None,
        details: ContextDetails | None = None,
        drop_bots: bool = False,
        gate: IngestGate | None = None,
    ) -> None:
        self._sink = sink
        self._gate = gate
        self._clock = clock
        self._ids = ids
        self._limits = limits or Limits()
        self._observer = observer
        self._details = details
        self._drop_bots = drop_bots

    def prepare(self, submission: Submission) -> Prepared:
        """Judge and enrich every message of ``submission``.

        Raises ``ValidationError`` when the request as a whole cannot be read (the body or
        ``batch`` has the wrong shape).
        """
        arrival, items = self._unpack(submission)
        records: list[EventRecord] = []
        rejections: list[Rejection] = []
        drop_reasons: Counter[str] = Counter()
        filtered: Counter[str] = Counter()
        single = submission.message_type is not None
        most = self._limits.max_batch_events
        for index, item in enumerate(items):
            if index >= most:
                reason = f"is past the {most} events one batch may carry"
                rejections.append(Rejection(f"batch[{index}]", reason, "batch_too_long"))
                drop_reasons["batch_too_long"] += 1
                continue
            prepared = self._prepare_one(submission.source, item, index, arrival, single)
            if isinstance(prepared, EventRecord):
                kept_out = (
                    None if self._gate is None else self._gate.screen(submission.source, item)
                )
                if kept_out is None:
                    records.append(prepared)
                else:
                    filtered[kept_out] += 1
            elif isinstance(prepared, Filtered):
                filtered[prepared.reason] += 1
            elif prepared:
                rejections.extend(prepared)
                drop_reasons[prepared[0].code] += 1
        return Prepared(submission.source, records, rejections, drop_reasons, filtered)

    def commit(self, prepared: Prepared) -> Future[IngestOutcome]:
        """Store the prepared records; the future resolves once they are durable.

        Rejected messages are counted as dropped. The future fails with ``StorageError``
        when the commit fails.
        """
        self._count_refusals(prepared)
        outcome: Future[IngestOutcome] = Future()
        if not prepared.records:
            outcome.set_result(IngestOutcome(0, 0, prepared.dropped, tuple(prepared.rejections)))
            return outcome
        appended = self._sink.append(prepared.records)

        def finish(done: Future[AppendResult]) -> None:
            error = done.exception()
            if error is not None:
                outcome.set_exception(error)
                return
            result = done.result()
            if self._observer is not None:
                self._observer.events_stored(prepared.source, result.stored, result.duplicates)
            outcome.set_result(
                IngestOutcome(
                    result.stored, result.duplicates, prepared.dropped, tuple(prepared.rejections)
                )
            )

        appended.add_done_callback(finish)
        return outcome

    async def commit_async(self, prepared: Prepared) -> IngestOutcome:
        """``commit`` for the event loop: waits for durability without blocking the loop.

        The outcome is built on the loop's thread, so the store's writer thread only
        resolves one future per request.
        """
        self._count_refusals(prepared)
        if not prepared.records:
            return IngestOutcome(0, 0, prepared.dropped, tuple(prepared.rejections))
        result = await self._sink.append_async(prepared.records)
        if self._observer is not None:
            self._observer.events_stored(prepared.source, result.stored, result.duplicates)
        return IngestOutcome(
            result.stored, result.duplicates, prepared.dropped, tuple(prepared.rejections)
        )

    def refuse(self, prepared: Prepared) -> None:
        """Count a prepared request refused whole (strict mode): nothing of it is stored."""
        reasons = Counter(prepared.drop_reasons)
        reasons["refused_with_request"] += len(prepared.records)
        reasons.update(prepared.filtered)
        self._dropped(prepared.source, reasons)
        self._log_rejections(prepared)

    def ingest(self, submission: Submission) -> Future[IngestOutcome]:
        """``prepare`` then ``commit``: permissive mode, bad messages dropped, good ones stored."""
        return self.commit(self.prepare(submission))

    def _unpack(self, submission: Submission) -> tuple[Arrival, list[Any]]:
        body = submission.body
        received_at = self._clock.now()
        if not isinstance(body, dict):
            raise ValidationError("body", "is not a JSON object")
        if submission.message_type is not None:
            message = dict(body)
            message["type"] = submission.message_type
            return Arrival(received_at, submission.client_ip), [message]
        batch = body.get("batch")
        if not isinstance(batch, list):
            raise ValidationError("batch", "is missing" if batch is None else "is not an array")
        context = body.get("context")
        integrations = body.get("integrations")
        arrival = Arrival(
            received_at,
            submission.client_ip,
            sent_at=body.get("sentAt"),
            context=context if isinstance(context, dict) else None,
            integrations=integrations if isinstance(integrations, dict) else None,
        )
        return arrival, batch

    def _count_refusals(self, prepared: Prepared) -> None:
        if prepared.filtered:
            self._dropped(prepared.source, prepared.filtered)
        if prepared.rejections:
            self._dropped(prepared.source, prepared.drop_reasons)
            self._log_rejections(prepared)

    def _prepare_one(
        self, source: str, item: object, index: int, arrival: Arrival, single: bool
    ) -> EventRecord | Filtered | list[Rejection]:
        """The message's record, why it was left out, or its problems."""
        problems = validate_message(item, "")
        if problems and not single:  # name the fields by their place in the batch
            problems = validate_message(item, f"batch[{index}]")
        if problems or not isinstance(item, dict):
            return problems
        place = "body" if single else f"batch[{index}]"
        message = enrich(item, arrival, self._ids.new)
        if self._details is not None and self._details.add(message) and self._drop_bots:
            return BOT
        try:
            serialized = orjson.dumps(message)
            # The stored form is at least the sent one less its writeKey, so only a large
            # stored form needs the sent size measured.
            size = len(serialized)
            if size > self._limits.max_event_bytes:
                size = len(orjson.dumps(item))
        except orjson.JSONEncodeError:
            return [Rejection(place, "is nested too deeply", "too_deep")]
        if size > self._limits.max_event_bytes:
            reason = f"is {size} bytes; the limit is {self._limits.max_event_bytes}"
            return [Rejection(place, reason, "event_too_large")]
        return _record(source, message, serialized, arrival.client_ip)

    def _dropped(self, source: str, reasons: Mapping[str, int]) -> None:
        if self._observer is not None:
            self._observer.events_dropped(source, reasons)

    @staticmethod
    def _log_rejections(prepared: Prepared) -> None:
        shown = "; ".join(str(r) for r in prepared.rejections[:5])
        more = len(prepared.rejections) - 5
        logger.warning(
            "source %s: refused %d message(s): %s%s",
            prepared.source,
            prepared.dropped,
            shown,
            f" (and {more} more)" if more > 0 else "",
        )


def _record(
    source: str, message: JSONObject, serialized: bytes, client_ip: str | None
) -> EventRecord:
    event = message.get("event")
    return EventRecord(  # positional: a third cheaper than keywords, in EventRecord's order
        source,
        message["messageId"],
        message["type"],
        message["userId"],
        message["anonymousId"],
        event if isinstance(event, str) else None,
        message["receivedAt"],
        message["timestamp"],
        client_ip,
        serialized,
    )
