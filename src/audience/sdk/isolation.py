"""What becomes of a batch that fails, so that no message can hold back the others. Pure.

The rules (the README's "Delivery guarantees" states them for users):

- **Refused content.** A batch answered 400, 413 or 422 is split in halves, and each half again,
  until every refused message is alone: only those are given up (``on_error``); the rest are
  delivered. Other 4xx answers (401, 403, 404 ...) are about the request, not its messages: the
  batch is given up whole, as before.
- **Failures that may pass** (network errors, 408, 429, 5xx): the batch stays first in line and is
  retried with the pipeline's backoff. Once it has failed ``set_aside_after`` times in a row, the
  next batch is posted beside it on each retry (a *probe*). When the collector accepts another
  batch while this one fails again, it is *set aside*: it leaves the line and is retried on its own
  backoff, while newer batches flow. A batch set aside that fails again while others are accepted
  is split in halves, each due at once, until the failing message is alone.
- **Giving up.** A single message is given up (removed, passed to ``on_error``) once it has failed
  ``give_up_after`` times while other batches were accepted (*strikes*) and at least
  ``give_up_age`` seconds after its batch first failed.
- **The collector down.** When nothing is accepted, no batch gets a strike: nothing is set aside,
  split or given up, and batches are retried oldest first, as before.

A ``Trouble`` travels with the batch in the outbox, so all of this carries over a restart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TypeAlias

import orjson

from audience.errors import ConfigError, DeliveryError
from audience.retry import RetryPolicy


@dataclass(frozen=True)
class IsolationPolicy:
    """When a failing batch is set aside, and when its last message is given up."""

    set_aside_after: int = 3
    give_up_after: int = 10
    give_up_age: float = 3600.0

    def __post_init__(self) -> None:
        if self.set_aside_after < 1 or self.give_up_after < 1:
            raise ConfigError("IsolationPolicy counts must be at least 1")
        if self.give_up_age < 0:
            raise ConfigError("IsolationPolicy.give_up_age cannot be negative")


@dataclass(frozen=True)
class Trouble:
    """What the outbox remembers of a batch that failed: kept beside it, across restarts.

    ``attempts``: retryable failures in a row. ``strikes``: those that happened while another
    batch was accepted (the collector was up). ``first_failure``: wall-clock seconds of the
    first. ``retry_at``: ``None`` while the batch waits in line, else the wall-clock time from
    which the batch, set aside, may be posted again.
    """

    attempts: int = 0
    strikes: int = 0
    first_failure: float | None = None
    retry_at: float | None = None

    @property
    def set_aside(self) -> bool:
        """Whether the batch has left the line and waits for its own time."""
        return self.retry_at is not None

    def encode(self) -> bytes:
        """The JSON kept in the outbox."""
        return orjson.dumps(
            {
                "attempts": self.attempts,
                "strikes": self.strikes,
                "firstFailure": self.first_failure,
                "retryAt": self.retry_at,
            }
        )

    @classmethod
    def decode(cls, raw: bytes | str) -> Trouble:
        """A ``Trouble`` read back from the outbox; anything unreadable counts as none."""
        try:
            fields = orjson.loads(raw)
            return cls(
                attempts=int(fields.get("attempts", 0)),
                strikes=int(fields.get("strikes", 0)),
                first_failure=_seconds(fields.get("firstFailure")),
                retry_at=_seconds(fields.get("retryAt")),
            )
        except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
            return cls()


def _seconds(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


@dataclass(frozen=True)
class Keep:
    """Keep the batch, with this ``Trouble``: in line, or set aside until ``retry_at``."""

    trouble: Trouble


@dataclass(frozen=True)
class Split:
    """Split the batch in halves, each with this ``Trouble``."""

    trouble: Trouble


@dataclass(frozen=True)
class GiveUp:
    """Give the message up: it has failed long enough while others were delivered."""

    trouble: Trouble

    def error(self, last: DeliveryError, now: float) -> DeliveryError:
        """The error passed to ``on_error``."""
        first = self.trouble.first_failure if self.trouble.first_failure is not None else now
        return DeliveryError(
            f"given up after {self.trouble.attempts} failed attempts over {now - first:.0f} s, "
            f"{self.trouble.strikes} of them while other batches were delivered; the last: {last}",
            status=last.status,
        )


Verdict: TypeAlias = Keep | Split | GiveUp


def after_retryable_failure(
    trouble: Trouble,
    *,
    messages: int,
    others_accepted: bool,
    now: float,
    isolation: IsolationPolicy,
    wait: float,
) -> Verdict:
    """What becomes of a batch of ``messages`` that failed again with a network error, 408, 429
    or 5xx; ``others_accepted`` says whether another batch was accepted since its last attempt,
    ``wait`` is the backoff before it is due again if it is set aside."""
    strike = 1 if others_accepted else 0
    failed = Trouble(
        attempts=trouble.attempts + 1,
        strikes=trouble.strikes + strike,
        first_failure=now if trouble.first_failure is None else trouble.first_failure,
        retry_at=trouble.retry_at,
    )
    age = now - (failed.first_failure or now)
    if messages == 1 and failed.strikes >= isolation.give_up_after and age >= isolation.give_up_age:
        return GiveUp(failed)
    if trouble.set_aside and strike and messages > 1:
        return Split(replace(failed, retry_at=now))
    if trouble.set_aside or (strike and trouble.attempts >= isolation.set_aside_after):
        return Keep(replace(failed, retry_at=now + wait))
    return Keep(failed)


def wants_probe(trouble: Trouble, isolation: IsolationPolicy) -> bool:
    """Whether a batch in line has failed often enough that the next one is posted beside it."""
    return not trouble.set_aside and trouble.attempts >= isolation.set_aside_after


def is_due(trouble: Trouble, now: float, retry: RetryPolicy) -> bool:
    """Whether a batch may be posted now: in line, or set aside and its time has come.

    A time further ahead than any backoff can be means the wall clock went back: due now.
    """
    retry_at = trouble.retry_at
    if retry_at is None or retry_at <= now:
        return True
    return retry_at - now > retry.longest


def halves(bodies: Sequence[bytes]) -> tuple[list[bytes], list[bytes]]:
    """``bodies`` cut in two, in order; the first half is the larger by at most one."""
    middle = (len(bodies) + 1) // 2
    return list(bodies[:middle]), list(bodies[middle:])
