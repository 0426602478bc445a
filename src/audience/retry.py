"""The one retry rule of everything audience sends: what an HTTP answer means, how long a
``Retry-After`` asks to wait, and how long to back off. Pure: the time (``now``) and the random
draw come in as arguments.

The SDK's delivery worker (batches to the collector) and every destination (webhooks) use it.

**Classification.** A 2xx answer delivered the request. 408, 429 and 5xx, and no answer at all
(a network error, a timeout), may pass: the request is retried. Any other status (1xx, 3xx, the
other 4xx) is permanent: sending the same request again cannot help. Among the permanent ones,
400, 413 and 422 are *splittable*: they may be about some messages of a batch only, so the SDK
splits the batch to find them (``audience.sdk.isolation``); 401, 403, 404 ... are about the
request itself.

**Retry-After** (RFC 9110, section 10.2.3) is either delay-seconds (ASCII digits) or an HTTP-date
in any of the three forms a recipient must accept (IMF-fixdate, RFC 850, asctime). A date in the
past asks for no wait; a value in neither form is ignored. A policy never waits less than it asks,
nor longer than its ``max_retry_after``.

**Backoff.** After the n-th failure in a row the wait is ``base * 2**(n - 1)`` seconds, capped at
``cap``, then spread by the jitter: ``"equal"`` waits between half of it and all of it, ``"full"``
between nothing and all of it, ``"none"`` exactly it. Jitter keeps many senders that failed at
the same moment from coming back at the same moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final, Literal, get_args

from audience.errors import (
    ConfigError,
    DeliveryError,
    PermanentDeliveryError,
    RetryableDeliveryError,
)

RETRYABLE_STATUSES: Final = frozenset({408, 429})
"""The 4xx answers that may pass (besides every 5xx): a request timeout and too many requests."""

SPLITTABLE_STATUSES: Final = frozenset({400, 413, 422})
"""Permanent answers that may be about some messages of a batch only."""

Jitter = Literal["none", "equal", "full"]
JITTERS: Final[tuple[str, ...]] = get_args(Jitter)

_MAX_DOUBLINGS: Final = 64
"""``2**n`` stays a finite float far beyond any cap; more failures than this change nothing."""


def delivered(status: int) -> bool:
    """Whether an answer with ``status`` delivered the request (2xx)."""
    return 200 <= status < 300


def retryable(status: int) -> bool:
    """Whether an answer with ``status`` may pass when the request is sent again (408, 429, 5xx)."""
    return status in RETRYABLE_STATUSES or status >= 500


def classify(
    status: int, retry_after: str | None, now: datetime, *, receiver: str = "the receiver"
) -> DeliveryError | None:
    """``None`` when ``status`` delivered the request, else the error that says whether to try
    again; a retryable one carries the seconds its ``Retry-After`` header asked for.

    ``receiver`` names who answered, for the error message.
    """
    if delivered(status):
        return None
    message = f"{receiver} answered {status}"
    if retryable(status):
        return RetryableDeliveryError(
            message, status=status, retry_after=parse_retry_after(retry_after, now)
        )
    return PermanentDeliveryError(message, status=status)


def no_answer(reason: str) -> RetryableDeliveryError:
    """The error of a request that got no answer (a network error, a timeout): it may pass."""
    return RetryableDeliveryError(reason)


def requested_wait(error: DeliveryError) -> float | None:
    """The seconds the receiver asked for with ``Retry-After``, when the error may pass."""
    return error.retry_after if isinstance(error, RetryableDeliveryError) else None


def splittable(error: DeliveryError) -> bool:
    """Whether ``error`` is a refusal that may be about some messages of the batch only."""
    return isinstance(error, PermanentDeliveryError) and error.status in SPLITTABLE_STATUSES


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """The seconds a ``Retry-After`` header asks for, counted from ``now``; ``None`` when there is
    no header or it is neither delay-seconds nor an HTTP-date."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # asctime carries no zone: HTTP dates are in GMT
    return max(0.0, (moment - now).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait before sending again: exponential backoff from ``base`` seconds, capped
    at ``cap``, spread by ``jitter``, never shorter than a ``Retry-After`` (itself capped at
    ``max_retry_after``)."""

    base: float = 0.5
    cap: float = 60.0
    max_retry_after: float = 300.0
    jitter: Jitter = "equal"

    def __post_init__(self) -> None:
        if not 0 <= self.base <= self.cap:
            raise ConfigError("RetryPolicy must satisfy 0 <= base <= cap")
        if self.max_retry_after < 0:
            raise ConfigError("RetryPolicy.max_retry_after cannot be negative")
        if self.jitter not in JITTERS:
            raise ConfigError(f"RetryPolicy.jitter must be one of {', '.join(JITTERS)}")

    @property
    def longest(self) -> float:
        """The longest wait this policy can ask for, whatever the failures and the header."""
        return max(self.cap, self.max_retry_after)

    def backoff(self, failures: int, draw: float = 1.0) -> float:
        """Seconds to wait after the ``failures``-th failure in a row, before ``Retry-After``.

        ``draw`` is a number in [0, 1] from the caller's random source; 1 gives the longest wait
        the jitter allows.
        """
        doublings = min(max(failures - 1, 0), _MAX_DOUBLINGS)
        wait = min(self.cap, self.base * 2.0**doublings)
        if self.jitter == "equal":
            return wait * (0.5 + 0.5 * draw)
        if self.jitter == "full":
            return wait * draw
        return wait

    def delay(self, failures: int, retry_after: float | None = None, *, draw: float = 1.0) -> float:
        """Seconds to wait after the ``failures``-th failure in a row: the backoff, or longer
        when the receiver's ``retry_after`` (capped at ``max_retry_after``) asks for longer."""
        wait = self.backoff(failures, draw)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_retry_after))
        return wait
