"""The batches that failed, as the sending process holds them: which are due, and what each
answer makes of them under the isolation rules (``audience.sdk.isolation``), written to the outbox.

Only the sender holds them (one process per outbox). Each failed batch is one outbox entry with
its ``Trouble``: a batch of several entries is merged into one when it first fails, so that it is
retried, split and given up as the unit it was sent as. ``accepted`` counts the batches the
collector accepted in this process; a batch that fails while that count has grown since its last
attempt gets a strike (the collector was up).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from audience.errors import DeliveryError, PermanentDeliveryError, RetryableDeliveryError
from audience.retry import RetryPolicy, requested_wait, splittable
from audience.sdk.isolation import (
    GiveUp,
    IsolationPolicy,
    Keep,
    Split,
    Trouble,
    Verdict,
    after_retryable_failure,
    halves,
    is_due,
    wants_probe,
)
from audience.sdk.outbox import Entry, Outbox

log = logging.getLogger(__name__)

Report = Callable[[DeliveryError, list[bytes]], None]
"""Hands messages given up to ``on_error``."""


@dataclass(frozen=True)
class Posting:
    """A failed batch due to be posted again: its outbox position and its messages."""

    position: int
    bodies: list[bytes]
    in_line: bool


@dataclass
class _Held:
    bodies: list[bytes]
    trouble: Trouble
    seen: int
    """``accepted`` when it was last posted."""


class TroubledBatches:
    """The failed batches of one outbox, held by the process that sends from it."""

    def __init__(
        self,
        outbox: Outbox,
        *,
        isolation: IsolationPolicy,
        retry: RetryPolicy,
        report: Report,
        draw: Callable[[], float],
    ) -> None:
        self._outbox = outbox
        self._isolation = isolation
        self._retry = retry
        self._report = report
        self._draw = draw
        self._held: dict[int, _Held] = {}
        self.accepted = 0
        self.loaded = False

    def load(self) -> None:
        """Take over the failed batches the outbox keeps (from an earlier run, or another
        process that sent before this one)."""
        self._held = {
            position: _Held(bodies, trouble, self.accepted)
            for (position, bodies), trouble in self._outbox.troubled()
        }
        self.loaded = True
        if self._held:
            log.info("%d failed batches wait in the outbox", len(self._held))

    def due(self, now: float, limit: int) -> list[Posting]:
        """The failed batches to post now: those in line, oldest first, and those set aside
        whose time has come, at most ``limit`` of each."""
        in_line: list[Posting] = []
        aside: list[Posting] = []
        for position in sorted(self._held):
            held = self._held[position]
            if not held.trouble.set_aside:
                if len(in_line) < limit:
                    in_line.append(Posting(position, held.bodies, True))
            elif len(aside) < limit and is_due(held.trouble, now, self._retry):
                aside.append(Posting(position, held.bodies, False))
        return in_line + aside

    def wants_probe(self, postings: Sequence[Posting]) -> bool:
        """Whether every batch in line among ``postings`` has failed often enough that the
        next batch should be posted beside them."""
        in_line = [p for p in postings if p.in_line]
        return bool(in_line) and all(
            wants_probe(self._held[p.position].trouble, self._isolation) for p in in_line
        )

    def settle(self, posting: Posting, error: DeliveryError | None, now: float) -> list[int]:
        """Apply the collector's answer to a failed batch posted again; returns the positions
        to forget (delivered or given up)."""
        held = self._held[posting.position]
        others_accepted = self.accepted > held.seen
        held.seen = self.accepted
        if error is None:
            return self._store([posting.position], [])
        pieces = self._pieces(held.bodies, held.trouble, error, others_accepted, now)
        return self._store([posting.position], pieces)

    def settle_halves(
        self,
        posting: Posting,
        errors: tuple[DeliveryError | None, DeliveryError | None],
        now: float,
    ) -> list[int]:
        """Apply the answers to a failed batch posted as two halves (a trial split, when
        nothing else could be posted beside it); returns the positions to forget.

        When both halves fail for reasons that may pass, the batch stays whole: the collector
        may be down. When one half is accepted, the other is judged on its own, with a strike.
        """
        held = self._held[posting.position]
        others_accepted = self.accepted > held.seen
        held.seen = self.accepted
        parts = halves(held.bodies)
        if all(isinstance(error, RetryableDeliveryError) for error in errors):
            assert errors[0] is not None
            pieces = self._pieces(held.bodies, held.trouble, errors[0], others_accepted, now)
            return self._store([posting.position], pieces)
        pieces = []
        for index, (bodies, error) in enumerate(zip(parts, errors, strict=True)):
            if error is not None:
                sibling_accepted = errors[1 - index] is None
                accepted = others_accepted or sibling_accepted
                pieces += self._pieces(bodies, held.trouble, error, accepted, now)
        return self._store([posting.position], pieces)

    def adopt(
        self, batch: Sequence[Entry], error: DeliveryError, others_accepted: bool, now: float
    ) -> list[int]:
        """Take over a batch that has just failed for the first time; returns the positions to
        forget (when given up at once)."""
        positions = [position for position, _ in batch]
        bodies = [body for _, messages in batch for body in messages]
        return self._store(positions, self._pieces(bodies, Trouble(), error, others_accepted, now))

    def _pieces(
        self,
        bodies: list[bytes],
        trouble: Trouble,
        error: DeliveryError,
        others_accepted: bool,
        now: float,
    ) -> list[tuple[list[bytes], Trouble]]:
        """What is left to send of ``bodies`` after ``error``, each piece with its trouble;
        messages given up are reported here."""
        if isinstance(error, PermanentDeliveryError):
            if splittable(error) and len(bodies) > 1:
                first, second = halves(bodies)
                return [(first, Trouble()), (second, Trouble())]
            log.error("%d message(s) refused: %s", len(bodies), error)
            self._report(error, bodies)
            return []
        verdict: Verdict = after_retryable_failure(
            trouble,
            messages=len(bodies),
            others_accepted=others_accepted,
            now=now,
            isolation=self._isolation,
            wait=self._retry.delay(trouble.attempts + 1, requested_wait(error), draw=self._draw()),
        )
        if isinstance(verdict, GiveUp):
            given_up = verdict.error(error, now)
            log.error("a message was given up: %s", given_up)
            self._report(given_up, bodies)
            return []
        if isinstance(verdict, Split):
            log.warning(
                "a batch of %d messages keeps failing while others are delivered (%s): split",
                len(bodies),
                error,
            )
            first, second = halves(bodies)
            return [(first, verdict.trouble), (second, verdict.trouble)]
        assert isinstance(verdict, Keep)
        if verdict.trouble.set_aside and not trouble.set_aside:
            log.warning(
                "a batch of %d messages keeps failing while others are delivered (%s): set aside",
                len(bodies),
                error,
            )
        return [(bodies, verdict.trouble)]

    def _store(
        self, positions: list[int], pieces: Sequence[tuple[list[bytes], Trouble]]
    ) -> list[int]:
        """Keep ``pieces`` in place of the entries at ``positions``; with none, return the
        positions for the caller to forget (the outbox deletes in groups)."""
        previous = self._held.get(positions[0]) if len(positions) == 1 else None
        for position in positions:
            self._held.pop(position, None)
        if not pieces:
            return positions
        if previous is not None and len(pieces) == 1 and pieces[0][0] is previous.bodies:
            self._outbox.mark(positions[0], pieces[0][1])  # the same messages: only the trouble
            placed = positions
        else:
            placed = self._outbox.replace(positions, pieces)
        for position, (bodies, trouble) in zip(placed, pieces, strict=True):
            self._held[position] = _Held(bodies, trouble, self.accepted)
        return []

    def newest(self) -> int:
        """The newest position held, 0 when none is."""
        return max(self._held, default=0)
