"""Delivery status: where each destination stands, for the CLI, the admin API, the pages and
readiness."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from audience.destinations.delivery_store import DeliveryStore
from audience.errors import ConfigError
from audience.eventlog import EventFeed
from audience.jsontypes import JSONObject


@dataclass(frozen=True)
class DestinationStatus:
    """One destination's settings (secrets hidden) and delivery progress.

    ``lag`` counts log positions after the cursor not yet claimed; ``pending_events`` are
    claimed and waiting to be (re)sent; ``dead_events`` wait for ``replay``. Times are Unix
    seconds.
    """

    name: str
    kind: str
    source: str | None
    settings: JSONObject
    cursor: int
    lag: int
    pending_batches: int
    pending_events: int
    dead_batches: int
    dead_events: int
    delivered_events: int
    last_delivered_at: float | None
    last_error: str | None
    last_error_at: float | None

    def to_json(self) -> JSONObject:
        """The status as a JSON object."""
        return asdict(self)


def destination_statuses(store: DeliveryStore, feed: EventFeed) -> list[DestinationStatus]:
    """The status of every configured destination, in the order they were added."""
    last_seq = feed.last_seq()
    statuses = []
    for config in store.configs():
        stats = store.stats(config.name)
        statuses.append(
            DestinationStatus(
                name=config.name,
                kind=config.kind,
                source=config.source,
                settings=config.redacted(),
                cursor=stats.cursor,
                lag=max(0, last_seq - stats.cursor),
                pending_batches=stats.pending_batches,
                pending_events=stats.pending_events,
                dead_batches=stats.dead_batches,
                dead_events=stats.dead_events,
                delivered_events=stats.delivered_events,
                last_delivered_at=stats.last_delivered_at,
                last_error=stats.last_error,
                last_error_at=stats.last_error_at,
            )
        )
    return statuses


def destination_lags(store: DeliveryStore, newest: int) -> dict[str, int]:
    """Each destination's events behind its cursor, when ``newest`` is the newest position."""
    lags: dict[str, int] = {}
    for config in store.configs():
        try:
            lags[config.name] = max(0, newest - store.cursor(config.name))
        except ConfigError:
            continue  # removed meanwhile
    return lags
