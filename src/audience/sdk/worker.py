"""The background delivery worker: hand-off from callers, outbox writes, batches, retries.

A call such as ``track()`` only appends the message's bytes to an in-memory hand-off (a deque)
and returns. One daemon thread per pipeline moves those messages into the outbox (at the latest
``persist_interval`` seconds after they were accepted, sooner when 1,000 are waiting or a flush
asks) and posts the outbox, oldest first, in batches. Messages leave the outbox only when the
collector accepted them or refused them for good. So a hard crash loses at most what was accepted
in the last ``persist_interval`` seconds (0.1 s by default); ``persist_interval=0`` writes every
message to the outbox before the call returns.

A batch that fails is kept by ``TroubledBatches`` under the isolation rules
(``audience.sdk.isolation``): refused content is split until the refused messages are alone, and
a batch that keeps failing while others pass is set aside and split, so no message holds back
the others.

The worker never raises into the caller: failures are logged and reported to ``on_error``.
After ``os.fork()`` the child starts its own worker on its first message and leaves the parent's
connections, locks and queued messages to the parent (``audience.sdk.forks``).
"""

from __future__ import annotations

import atexit
import itertools
import logging
import random
import threading
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from audience.clock import Clock
from audience.errors import (
    ConfigError,
    DeliveryError,
    RetryableDeliveryError,
)
from audience.jsontypes import JSONObject
from audience.retry import RetryPolicy, classify
from audience.sdk import forks
from audience.sdk.batching import BatchingPolicy, encode_batch, entries_per_batch
from audience.sdk.delivery import Transport
from audience.sdk.isolation import IsolationPolicy, halves
from audience.sdk.outbox import Entry, Outbox
from audience.sdk.troubled import Posting, TroubledBatches
from audience.tracking import format_timestamp

log = logging.getLogger(__name__)

OnError = Callable[[DeliveryError, list[JSONObject]], None]
"""Called with the error and the messages it cost when messages cannot be delivered."""


@dataclass(frozen=True)
class DeliveryPolicy:
    """How messages travel: limits, timing and the crash window.

    ``persist_interval``: the longest a message waits in memory before it is written to the
    outbox, i.e. how much a hard crash can lose (0 writes in the call itself).
    ``max_queue_size``: messages waiting in memory; beyond it new ones are dropped and logged.
    ``max_outbox_size``: messages waiting for delivery; beyond it new ones are refused and
    reported to ``on_error`` (what already waits is kept).
    ``concurrency``: batches posted at the same time when many wait.
    ``isolation``: when a batch that keeps failing is set aside, split, and its last message
    given up (``audience.sdk.isolation``).
    """

    gzip: bool = True
    timeout: float = 15.0
    persist_interval: float = 0.1
    max_queue_size: int = 10_000
    max_outbox_size: int = 100_000
    idle_poll: float = 0.5
    concurrency: int = 2
    shutdown_timeout: float = 5.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    batching: BatchingPolicy = field(default_factory=BatchingPolicy)
    isolation: IsolationPolicy = field(default_factory=IsolationPolicy)

    def __post_init__(self) -> None:
        for name in ("max_queue_size", "max_outbox_size", "concurrency"):
            if getattr(self, name) < 1:
                raise ConfigError(f"DeliveryPolicy.{name} must be at least 1")
        for name in ("timeout", "idle_poll"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"DeliveryPolicy.{name} must be more than 0 seconds")
        if self.persist_interval < 0 or self.shutdown_timeout < 0:
            raise ConfigError("DeliveryPolicy intervals cannot be negative")


_workers: weakref.WeakSet[DeliveryWorker] = weakref.WeakSet()

Batch = list[Entry]
"""Outbox entries posted together as one request."""


@dataclass(frozen=True)
class _Round:
    """The requests of one round: failed batches due again, then new batches.

    ``probe``: the new batch is posted only to learn whether the collector is up. ``trial``:
    the one failed batch goes as two halves.
    """

    wall: float
    postings: list[Posting]
    batches: list[Batch]
    from_sendable: bool
    probe: bool
    trial: bool

    def requests(self) -> list[list[bytes]]:
        """The messages of each request, in the order the answers come back."""
        if self.trial:
            requests = list(halves(self.postings[0].bodies))
        else:
            requests = [posting.bodies for posting in self.postings]
        requests += [[body for _, messages in batch for body in messages] for batch in self.batches]
        return requests


_WAKE_AT = 1000
"""Waiting messages that wake the worker before ``persist_interval`` is over: enough to fill ten
batches, few enough that a burst is written in a handful of transactions."""

_FORGET_EVERY = 10
"""Delivered entries leave the outbox in groups this large (or when the worker goes idle): a
crash may send up to this many delivered entries (1,000 messages) again, with their messageIds."""


class DeliveryWorker:
    """Moves accepted messages to the outbox and from there to the collector."""

    def __init__(
        self,
        *,
        outbox: Outbox,
        transport: Transport,
        clock: Clock,
        write_key: str,
        policy: DeliveryPolicy,
        on_error: OnError | None = None,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self._outbox = outbox
        self._transport = transport
        self._clock = clock
        self._write_key = write_key
        self._policy = policy
        self._on_error = on_error
        self._draw = draw
        self._wake_at = _WAKE_AT
        self._max_queue = policy.max_queue_size
        self._sync = policy.persist_interval <= 0
        self.dropped = 0
        self._closed = False
        self._delivered_at_shutdown = True
        self._process = forks.ProcessWatch()
        self._fresh_state()
        _workers.add(self)
        atexit.register(self._at_exit)
        self._last_position = outbox.newest()
        if self._last_position:
            self._start()

    def _fresh_state(self) -> None:
        self._pending: deque[bytes] = deque()
        self._wake = threading.Event()
        self._progress = threading.Condition()
        self._persist_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._running = False
        self._stopping = False
        self._last_position = 0
        self._failures = 0
        self._retry_at = 0.0
        # Messages this process wrote to the outbox and has not delivered yet, oldest first: the
        # worker sends from here instead of reading them back. When it overflows, the rest wait
        # in the outbox only and are read from there once this runs dry.
        self._sendable: deque[Entry] = deque()
        self._sendable_messages = 0
        self._sendable_open = True
        self._delivered: list[int] = []
        self._next_outbox_check = 0.0
        self._sender = False
        # Batches that failed: retried, set aside, split and given up by the isolation rules.
        self._troubled = TroubledBatches(
            self._outbox,
            isolation=self._policy.isolation,
            retry=self._policy.retry,
            report=self._report,
            draw=self._draw,
        )

    # -- the caller's side ---------------------------------------------------------------

    def accept(self, body: bytes) -> None:
        """Take one encoded message; never blocks on I/O unless ``persist_interval`` is 0."""
        if not forks.HOOKS and self._process.forked():
            self._after_fork_in_child()
        if self._closed:
            log.warning("message dropped: the client was shut down")
            return
        pending = self._pending
        if self._sync:
            self._persist_now(body)
            waiting = 1
        else:
            waiting = len(pending)
            if waiting >= self._max_queue:
                self._drop_for_full_queue()
                return
            pending.append(body)
            waiting += 1
        if not self._running:
            self._start()
        if (waiting == 1 or waiting >= self._wake_at) and not self._wake.is_set():
            self._wake.set()

    def _persist_now(self, body: bytes) -> None:
        with self._persist_lock:
            self._store([body], in_worker=False)

    def _drop_for_full_queue(self) -> None:
        self.dropped += 1
        if self.dropped == 1 or self.dropped % 1000 == 0:
            log.warning(
                "%d messages dropped: %d already wait in memory (max_queue_size)",
                self.dropped,
                self._max_queue,
            )

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every message accepted so far is delivered (or given up); True if so."""
        if not forks.HOOKS and self._process.forked():
            self._after_fork_in_child()
        if self._closed:
            return self._delivered_at_shutdown
        if not self._running:
            self._start()
        deadline = None if timeout is None else self._clock.monotonic() + timeout
        with self._progress:
            while not self._done():
                self._wake.set()
                remaining = None if deadline is None else deadline - self._clock.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                wait = self._policy.idle_poll if remaining is None else min(remaining, 0.5)
                self._progress.wait(wait)
        return True

    def _done(self) -> bool:
        if self._sendable:
            return False  # known without asking the outbox
        with self._persist_lock:
            if self._pending:
                return False
            last = self._last_position
        return last == 0 or self._outbox.waiting_through(last) == 0

    def shutdown(self, timeout: float | None = None) -> bool:
        """Flush (for at most ``timeout`` seconds), stop the worker, release connections.

        Messages still in a durable outbox are sent by the next process that opens it.
        """
        if self._closed:
            return True
        wait = self._policy.shutdown_timeout if timeout is None else timeout
        delivered = self.flush(wait)
        self._stop()
        self._closed = True
        self._delivered_at_shutdown = delivered
        self._transport.close()
        self._outbox.close()
        atexit.unregister(self._at_exit)
        if not delivered:
            log.warning("shutdown before every message was delivered")
        return delivered

    def _at_exit(self) -> None:
        self.shutdown()

    def _stop(self) -> None:
        thread = self._thread
        self._stopping = True
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(self._policy.timeout + 1.0)
        self._running = False

    # -- the worker thread ---------------------------------------------------------------

    def _start(self) -> None:
        with self._progress:
            if self._running:
                return
            self._running = True
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="audience-delivery", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self._next_wait())
            self._wake.clear()
            try:
                self._sender = self._outbox.may_send()
                self._persist()
                if self._sender:
                    self._send_ready()
                if not self._pending and not self._sendable:
                    self._outbox.tidy()
            except Exception as exc:
                log.exception("the delivery worker failed; it carries on")
                self._back_off(RetryableDeliveryError(f"{type(exc).__name__}: {exc}"))
            with self._progress:
                self._progress.notify_all()

    def _next_wait(self) -> float:
        if self._pending:
            return self._policy.persist_interval
        backoff = self._retry_at - self._clock.monotonic()
        if backoff > 0:
            return min(backoff, self._policy.idle_poll)
        return self._policy.idle_poll

    def _persist(self) -> None:
        """Write waiting messages to the outbox and forget delivered ones, in one step."""
        with self._persist_lock:
            pending = self._pending
            if not pending and not self._delivered:
                return
            bodies = [pending.popleft() for _ in range(len(pending))]
            self._store(bodies, in_worker=True)

    def _store(self, bodies: list[bytes], *, in_worker: bool) -> None:
        """Write to the outbox; the caller holds the persist lock.

        Only the worker thread forgets delivered messages and keeps what it wrote for sending;
        a caller writing its own message (``persist_interval=0``) leaves both to the worker,
        which then finds the message in the outbox.
        """
        delivered: list[int] = []
        if in_worker:
            delivered, self._delivered = self._delivered, []
        try:
            taken, entries = self._outbox.append(bodies, delivered)
        except Exception as exc:
            log.exception("cannot write the outbox")
            self._delivered = delivered + self._delivered
            if bodies:
                self._report(DeliveryError(f"cannot write the outbox: {exc}"), bodies)
            return
        if entries:
            self._last_position = max(self._last_position, entries[-1][0])
            if not (in_worker and self._sender):
                pass  # read back from the outbox when its turn comes
            elif self._sendable_open and self._sendable_messages + taken <= self._max_queue:
                self._sendable.extend(entries)
                self._sendable_messages += taken
            else:
                self._sendable_open = False
        if taken < len(bodies):
            refused = bodies[taken:]
            log.warning("%d messages refused: the outbox is full", len(refused))
            self._report(DeliveryError("the outbox is full (max_outbox_size)"), refused)

    def _send_ready(self) -> None:
        if not self._troubled.loaded:
            self._troubled.load()
        while self._clock.monotonic() >= self._retry_at:
            planned = self._next_round()
            if planned is None:
                break
            errors = self._post_all(planned.requests())
            self._settle(planned, errors)
            retryable = [e for e in errors if isinstance(e, RetryableDeliveryError)]
            if retryable:
                self._back_off(retryable[0])
                break
            self._failures = 0
            if self._pending or len(self._delivered) >= _FORGET_EVERY:
                self._persist()
        self._persist()

    def _next_round(self) -> _Round | None:
        """What to post now: failed batches that are due, and new batches unless failed ones
        still hold the line (then only a probe beside them, once they have failed often)."""
        troubled = self._troubled
        wall = self._clock.now().timestamp()
        postings = troubled.due(wall, self._policy.concurrency)
        batches: list[Batch] = []
        from_sendable = probe = False
        if not any(posting.in_line for posting in postings):
            batches, from_sendable = self._next_batches(self._policy.concurrency)
        elif troubled.wants_probe(postings):
            batches, from_sendable = self._next_batches(1)
            probe = bool(batches)
        if not postings and not batches:
            return None
        # A failed batch with nothing to post beside it goes as two halves: if the collector
        # takes one, the other is to blame; if it takes neither, it may be down.
        trial = (
            len(postings) == 1
            and not batches
            and len(postings[0].bodies) > 1
            and (not postings[0].in_line or troubled.wants_probe(postings))
        )
        return _Round(wall, postings, batches, from_sendable, probe, trial)

    def _settle(self, posted: _Round, errors: list[DeliveryError | None]) -> None:
        """Apply the answers: forget what was delivered or given up, hand failed batches to
        the isolation rules."""
        troubled = self._troubled
        accepted_before = troubled.accepted
        troubled.accepted += sum(1 for error in errors if error is None)
        others_accepted = troubled.accepted > accepted_before
        forgotten: list[int] = []
        postings = posted.postings
        if posted.trial:
            forgotten += troubled.settle_halves(postings[0], (errors[0], errors[1]), posted.wall)
            errors = errors[2:]
        else:
            for posting, error in zip(postings, errors, strict=False):
                forgotten += troubled.settle(posting, error, posted.wall)
            errors = errors[len(postings) :]
        done: list[Batch] = []
        adopted: list[Batch] = []
        for batch, error in zip(posted.batches, errors, strict=True):
            if error is None:
                done.append(batch)
            elif posted.probe and isinstance(error, RetryableDeliveryError):
                pass  # a probe that fails says only that the collector may be down: it waits
            elif troubled.adopt(batch, error, others_accepted, posted.wall):
                done.append(batch)  # given up at once
            else:
                adopted.append(batch)
        self._delivered.extend(forgotten)
        self._forget(posted.batches, done, adopted, posted.from_sendable)
        if troubled.newest() > self._last_position:
            with self._persist_lock:  # split pieces take new positions: flush waits for them
                self._last_position = max(self._last_position, troubled.newest())

    def _forget(
        self, batches: list[Batch], done: list[Batch], adopted: list[Batch], from_sendable: bool
    ) -> None:
        """Forget delivered (or refused) batches; ``adopted`` ones now wait as failed batches.

        Both leave the messages this process sends from memory.
        """
        self._delivered.extend(position for batch in done for position, _ in batch)
        if not from_sendable:
            return
        leaving = done + adopted
        if len(leaving) == len(batches):
            for batch in leaving:
                for _ in batch:
                    self._sendable_messages -= len(self._sendable.popleft()[1])
        elif leaving:
            gone = {position for batch in leaving for position, _ in batch}
            self._sendable = deque(entry for entry in self._sendable if entry[0] not in gone)
            self._sendable_messages = sum(len(bodies) for _, bodies in self._sendable)

    def _next_batches(self, limit: int) -> tuple[list[Batch], bool]:
        """The next batches, oldest first: entries other processes (or an earlier run of this
        one) left in the outbox, looked for at least every ``idle_poll`` seconds, else ours
        (up to ``limit`` batches of them at once)."""
        sendable = self._sendable
        batching = self._policy.batching
        now = self._clock.monotonic()
        if not sendable or now >= self._next_outbox_check:
            self._next_outbox_check = now + self._policy.idle_poll
            if self._delivered:
                self._persist()  # what was delivered must not be read back
            older = self._outbox.oldest(
                batching.max_messages, before=sendable[0][0] if sendable else None
            )
            if older:
                self._next_outbox_check = now  # a backlog: keep draining it first
                return [older[: entries_per_batch(older, batching)]], False
            if not sendable:
                self._sendable_open = True
                return [], False
        head = list(itertools.islice(sendable, batching.max_messages * limit))
        batches: list[Batch] = []
        while head and len(batches) < limit:
            count = entries_per_batch(head, batching)
            batches.append(head[:count])
            head = head[count:]
        return batches, True

    def _post_all(self, batches: list[list[bytes]]) -> list[DeliveryError | None]:
        """Post the batches at the same time (the first on this thread); results in order."""
        results: list[DeliveryError | None] = [None] * len(batches)

        def post(index: int) -> None:
            results[index] = self._post(batches[index])

        helpers = []
        for index in range(1, len(batches)):
            helper = threading.Thread(target=post, args=(index,), name="audience-post", daemon=True)
            try:
                helper.start()
            except RuntimeError:  # the interpreter is shutting down: one at a time
                post(index)
            else:
                helpers.append(helper)
        post(0)
        for helper in helpers:
            helper.join()
        return results

    def _post(self, bodies: list[bytes]) -> DeliveryError | None:
        """Post one batch: ``None`` when the collector took it, else what went wrong."""
        now = self._clock.now()
        body = encode_batch(bodies, sent_at=format_timestamp(now), write_key=self._write_key)
        try:
            answer = self._transport.post(body)
        except RetryableDeliveryError as exc:
            return exc
        return classify(answer.status, answer.retry_after, now, receiver="the collector")

    def _back_off(self, error: RetryableDeliveryError) -> None:
        self._failures += 1
        delay = self._policy.retry.delay(self._failures, error.retry_after, draw=self._draw())
        self._retry_at = self._clock.monotonic() + delay
        log.warning("delivery failed (%s); next try in %.1f s", error, delay)

    def _report(self, error: DeliveryError, bodies: list[bytes]) -> None:
        if self._on_error is None:
            return
        try:
            self._on_error(error, [orjson.loads(body) for body in bodies])
        except Exception:
            log.exception("on_error raised")

    # -- fork ----------------------------------------------------------------------------

    def _after_fork_in_child(self) -> None:
        self._fresh_state()
        self._outbox.after_fork_in_child()
        self._transport.after_fork_in_child()


def _after_fork_in_child() -> None:
    for worker in list(_workers):
        worker._after_fork_in_child()


forks.after_fork_in_child(_after_fork_in_child)
