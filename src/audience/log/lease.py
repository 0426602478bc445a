"""One writer at a time: a lease kept in a JetStream key-value bucket.

Two writers on the same durable consumers would share out each partition's messages between
them and store one person's events out of order. So every writer asks for the lease, one key in
the bucket ``<prefix>-writer`` whose entries expire ``LEASE_SECONDS`` after they were written:
the writer that holds it renews it every third of that and fetches; the others wait as
standbys and ask again as often. A holder that dies stops renewing, its entry expires, and a
standby takes over, with every message the dead one had not acknowledged. A holder that cannot
renew stops fetching two thirds of the way to the expiry, before anyone else can hold the lease.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Final, Literal

from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from audience.log.link import LOG_ERRORS, NatsLink

logger = logging.getLogger(__name__)

LEASE_SECONDS: Final = 10.0
"""How long a lease lasts once written; its holder renews it every third of that."""

KEY: Final = "holder"

LeaseState = Literal["holder", "standby"]


class WriterLease:
    """This process's claim to be the log's one writer; ``run`` keeps asking and renewing."""

    def __init__(
        self,
        link: NatsLink,
        holder: str,
        seconds: float = LEASE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._link = link
        self._holder = holder.encode()
        self._seconds = seconds
        self._monotonic = monotonic
        self._bucket: KeyValue | None = None
        self._revision: int | None = None
        self._valid_until = 0.0

    def held(self) -> bool:
        """Whether this process holds the lease and may fetch now."""
        return self._revision is not None and self._monotonic() < self._valid_until

    def state(self) -> LeaseState:
        """``holder`` or ``standby``, for ``/readyz``."""
        return "holder" if self.held() else "standby"

    async def run(self, running: Callable[[], bool]) -> None:
        """Ask for the lease, or renew it, every third of its length while ``running()``."""
        while running():
            await self.renew()
            await asyncio.sleep(self._seconds / 3)

    async def renew(self) -> None:
        """One try: take the lease if it is free, renew it if held; lose it if another has it."""
        asked_at = self._monotonic()
        try:
            bucket = await self._open_bucket()
            if self._revision is None:
                self._revision = await bucket.create(KEY, self._holder)
                logger.info("this writer holds the log's writer lease")
            else:
                self._revision = await bucket.update(KEY, self._holder, last=self._revision)
        except KeyWrongLastSequenceError:
            if self._revision is not None:
                logger.warning("the log's writer lease went to another writer")
            self._revision = None
            return
        except LOG_ERRORS as exc:
            logger.debug("the writer lease could not be asked for: %r", exc)
            self._bucket = None  # found again once the log answers
            return
        # The entry was written after ``asked_at``, so it lasts at least until then + seconds.
        self._valid_until = asked_at + self._seconds * 2 / 3

    async def _open_bucket(self) -> KeyValue:
        if self._bucket is None:
            js = self._link.jetstream()
            name = f"{self._link.options.prefix}-writer"
            try:
                self._bucket = await js.key_value(name)
            except BucketNotFoundError:
                self._bucket = await js.create_key_value(
                    KeyValueConfig(
                        bucket=name,
                        history=1,
                        ttl=self._seconds,
                        storage=StorageType.FILE,
                        replicas=self._link.options.replicas,
                    )
                )
        return self._bucket
