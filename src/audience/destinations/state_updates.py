"""Two changes of the delivery state beyond the ``DeliveryStore`` contract, each one transaction.

- ``replace_config``: new settings for a destination (a rotated secret), keeping its cursor,
  open batch and dead letters.
- ``set_apart``: a batch whose events were refused one by one (a transformation that raised, an
  event the receiver refused) is closed; each refused event becomes a dead letter of its own
  with its reason, and only the others count as delivered.

Both run on the SQL stores (SQLite and PostgreSQL) through the statements they share
(``SqlDeliveryStore``). ``set_apart`` on any other store falls back to the contract's own
steps, in several transactions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from audience.destinations.base import DestinationConfig
from audience.destinations.state import Batch, DeliveryStore, SqlDeliveryStore
from audience.errors import ConfigError


def replace_config(store: DeliveryStore, config: DestinationConfig) -> None:
    """Store ``config`` as the settings of the destination of its name; the dispatcher uses
    them from its next batch on."""
    if not isinstance(store, SqlDeliveryStore):
        raise ConfigError(f"{type(store).__name__} cannot change a destination's settings")
    mark = store._mark
    with store._transaction() as db:
        changed = db.execute(
            f"UPDATE destinations SET config = {mark} WHERE name = {mark}",
            (json.dumps(config.to_json()), config.name),
        )
        if changed.rowcount == 0:
            raise ConfigError(f"no destination is named {config.name!r}")


def set_apart(store: DeliveryStore, batch: Batch, refused: Mapping[int, str], now: float) -> None:
    """Close ``batch``: dead-letter each refused event (log position -> reason) alone, and count
    the rest as delivered. Every event of ``refused`` must belong to the batch."""
    kept = len(batch.seqs) - len(set(refused) & set(batch.seqs))
    if not isinstance(store, SqlDeliveryStore):
        _set_apart_in_steps(store, batch, refused, now)
        return
    m = store._mark
    with store._transaction() as db:
        for seq, reason in refused.items():
            db.execute(
                "INSERT INTO batches (destination, seqs, events, state, attempts, "
                f"next_attempt_at, last_error, created_at) VALUES ({m}, {m}, 1, 'dead', 1, "
                f"{m}, {m}, {m})",
                (batch.destination, json.dumps([seq]), now, reason, now),
            )
        db.execute(f"DELETE FROM batches WHERE id = {m}", (batch.id,))
        db.execute(
            f"UPDATE outcomes SET delivered_events = delivered_events + {m}, "
            f"last_delivered_at = {m}, last_error = {m}, last_error_at = {m} "
            f"WHERE destination = {m}",
            (kept, now, next(iter(refused.values())), now, batch.destination),
        )


def _set_apart_in_steps(
    store: DeliveryStore, batch: Batch, refused: Mapping[int, str], now: float
) -> None:
    """``set_apart`` with the contract's steps; ``delivered`` then counts the refused too."""
    cursor = store.cursor(batch.destination)
    for seq, reason in refused.items():
        # A batch of one, opened where the cursor already is: the cursor does not move.
        alone = store.claim(batch.destination, cursor, cursor, [seq], now)
        if alone is not None:
            store.failed(alone, reason, now, now, dead=True)
    store.delivered(batch, now)
