"""The one exception tree of audience.

::

    AudienceError
    ├── ValidationError        bad input: names the field and the reason (a 400 on the wire,
    │   │                      a raise at the call site in the SDK)
    │   ├── QueryError         malformed query parameters of a read route, each named (400)
    │   ├── NotFoundError      what the input names does not exist (404)
    │   └── ConflictError      the input is well formed but the state refuses it (409)
    ├── AuthenticationError    a missing or unknown write key or admin token (401)
    ├── PayloadTooLargeError   a request or event over its size limit (413)
    │   └── TooManyEventsError a batch carrying more events than allowed (413)
    ├── ConfigError            a setting that cannot be used
    ├── StorageError           a store could not read or write
    └── DeliveryError          sending events to a collector or destination failed
        ├── RetryableDeliveryError   network errors, 429 and 5xx: try again later
        └── PermanentDeliveryError   other 4xx: trying again cannot help
            └── RefusedEventsError   some events of a batch refused, the others delivered
"""

from __future__ import annotations


class AudienceError(Exception):
    """Base of every error audience raises on purpose."""


class ValidationError(AudienceError):
    """Input that breaks a rule; ``field`` is a path such as ``batch[3].userId``."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class QueryError(ValidationError):
    """One or more malformed query parameters; ``problems`` names each with its reason."""

    def __init__(self, problems: tuple[ValidationError, ...]) -> None:
        first = problems[0]
        super().__init__(first.field, first.reason)
        self.problems = problems


class NotFoundError(ValidationError):
    """The profile or identifier a field names does not exist (a 404 naming the field)."""


class ConflictError(ValidationError):
    """A well-formed request the current state refuses (a 409 naming the field), such as
    merging a profile with itself."""


class AuthenticationError(AudienceError):
    """A request without a valid write key or admin token."""


class PayloadTooLargeError(AudienceError):
    """A request body or an event over its size limit."""

    def __init__(self, what: str, limit: int) -> None:
        super().__init__(f"{what} is larger than {limit} bytes")
        self.what = what
        self.limit = limit


class TooManyEventsError(PayloadTooLargeError):
    """A batch request carrying more events than the limit allows."""

    def __init__(self, count: int, limit: int) -> None:
        AudienceError.__init__(self, f"a batch of {count} events is over the limit of {limit}")
        self.what = "batch"
        self.limit = limit
        self.count = count


class ConfigError(AudienceError):
    """A setting that cannot be used, named in the message."""


class StorageError(AudienceError):
    """A store could not read or write."""


class DeliveryError(AudienceError):
    """Sending a batch failed; ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RetryableDeliveryError(DeliveryError):
    """A failure that may pass: network errors, 429 and 5xx.

    ``retry_after`` is the delay in seconds the receiver asked for, when it asked.
    """

    def __init__(
        self, message: str, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """A failure that sending again cannot fix: a 4xx other than 408 and 429."""


class RefusedEventsError(PermanentDeliveryError):
    """Some events of a batch were refused for good; every other event was delivered.

    ``refused`` maps the log position (``seq``) of each refused event to the reason. The
    dispatcher dead-letters those events alone and closes the rest of the batch.
    """

    def __init__(self, refused: dict[int, str], status: int | None = None) -> None:
        shown = "; ".join(f"event {seq}: {reason}" for seq, reason in list(refused.items())[:3])
        more = f" (and {len(refused) - 3} more)" if len(refused) > 3 else ""
        super().__init__(f"{len(refused)} event(s) refused: {shown}{more}", status)
        self.refused = refused
