"""Rotating a webhook's signing secret: a new secret, and the old one still signing for a while.
Pure: the time comes in as an argument; ``DeliveryStore.replace_config`` stores the result.

During the overlap every request carries two signatures in each signature header, the new
secret's first, so a receiver can switch to the new secret whenever it likes; afterwards only
the new one signs. The destination keeps its cursor, open batch and dead letters.
"""

from __future__ import annotations

from dataclasses import replace

from audience.destinations.base import DestinationConfig
from audience.errors import ConfigError


def rotated(
    config: DestinationConfig, new_secret: str, now: float, overlap: float
) -> DestinationConfig:
    """``config`` signing with ``new_secret``, and with its current secret too for ``overlap``
    seconds after ``now`` (none when ``overlap`` is 0)."""
    if config.kind != "webhook":
        raise ConfigError(f"{config.name} is a {config.kind} destination: only webhooks sign")
    if not new_secret:
        raise ConfigError("the new secret cannot be empty")
    if overlap < 0:
        raise ConfigError("the overlap cannot be negative")
    options = dict(config.options)
    options.pop("previous_secret", None)
    options.pop("previous_secret_until", None)
    if overlap > 0:
        options["previous_secret"] = options["secret"]
        options["previous_secret_until"] = now + overlap
    options["secret"] = new_secret
    return replace(config, options=options)
