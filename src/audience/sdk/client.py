"""``Analytics``: the SDK's facade and composition root. It builds the stores, the outbox, the
transport and the worker, then hands every call (``audience.sdk.calls``) to a ``Tracker``.

Calls made before ``load()`` (with ``autoload=False``, e.g. until a visitor consents) are held in
one FIFO with the time of the call and replayed in call order once loaded.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
from collections.abc import Callable, Mapping
from importlib.metadata import version
from pathlib import Path
from types import TracebackType
from typing import Final, Literal

from audience.clock import Clock, IdFactory, SystemClock, UuidFactory
from audience.errors import ConfigError, ValidationError
from audience.sdk.calls import Call, CallMethods, IdentitySource, stamped
from audience.sdk.delivery import HttpTransport, Transport
from audience.sdk.message_ids import MessageIdFactory
from audience.sdk.messages import library_context
from audience.sdk.outbox import MemoryOutbox, Outbox, SqliteOutbox
from audience.sdk.stores import (
    CookieJarStore,
    KeyValueStore,
    LayeredStore,
    LocalFileStore,
    MemoryStore,
)
from audience.sdk.tracker import Pipeline, Tracker, explicit_identity_store
from audience.sdk.worker import DeliveryPolicy, DeliveryWorker, OnError

log = logging.getLogger(__name__)

DEFAULT_HOST: Final = "http://127.0.0.1:8000"


def default_storage_dir(write_key: str, environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_DATA_HOME/audience/<hash of the write key>`` (``~/.local/share/...`` by default)."""
    env = os.environ if environ is None else environ
    base = Path(env.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    digest = hashlib.sha256(write_key.encode()).hexdigest()[:16]
    return base / "audience" / digest


class Analytics(CallMethods):
    """Send events about the person using this program, with their identity kept on disk.

    ``storage="disk"`` (default) keeps identity and the outbox under ``storage_dir`` (default
    ``default_storage_dir(write_key)``); ``storage="memory"`` keeps nothing. ``for_user()`` sends
    for an explicit person instead (servers and workers); ``for_store()`` for an identity kept in
    any ``KeyValueStore`` (e.g. a request's cookies). All share this client's delivery worker.
    """

    def __init__(
        self,
        write_key: str,
        host: str = DEFAULT_HOST,
        *,
        storage_dir: str | os.PathLike[str] | None = None,
        storage: Literal["disk", "memory"] = "disk",
        on_error: OnError | None = None,
        delivery: DeliveryPolicy | None = None,
        transport: Transport | None = None,
        clock: Clock | None = None,
        anonymous_ids: IdFactory | None = None,
        autoload: bool = True,
    ) -> None:
        if not isinstance(write_key, str) or not write_key:
            raise ValidationError("write_key", "must be a non-empty string")
        policy = delivery or DeliveryPolicy()
        self._clock = clock or SystemClock()
        self._anonymous_ids = anonymous_ids or UuidFactory()
        ids, traits, outbox = self._open_storage(write_key, storage, storage_dir, policy)
        release = version("audience")
        worker = DeliveryWorker(
            outbox=outbox,
            transport=transport
            or HttpTransport(
                host,
                write_key,
                gzip=policy.gzip,
                timeout=policy.timeout,
                user_agent=f"audience-python/{release}",
            ),
            clock=self._clock,
            write_key=write_key,
            policy=policy,
            on_error=on_error,
        )
        self._pipeline = Pipeline(
            worker=worker,
            clock=self._clock,
            message_ids=MessageIdFactory(),
            library=library_context(release),
        )
        self._tracker = Tracker(self._pipeline, ids, traits, anonymous_ids=self._anonymous_ids)
        self._loaded = autoload
        self._held: list[Callable[[], object]] = []
        self._ready_callbacks: list[Callable[[], object]] = []

    def _open_storage(
        self,
        write_key: str,
        storage: str,
        storage_dir: str | os.PathLike[str] | None,
        policy: DeliveryPolicy,
    ) -> tuple[KeyValueStore, KeyValueStore, Outbox]:
        if storage == "memory":
            memory = MemoryStore()
            return memory, memory, MemoryOutbox(policy.max_outbox_size, policy.batching)
        if storage != "disk":
            raise ConfigError(f"storage must be 'disk' or 'memory', not {storage!r}")
        folder = Path(storage_dir) if storage_dir is not None else default_storage_dir(write_key)
        memory = MemoryStore()
        local = LocalFileStore(folder / "local.json", clock=self._clock)
        cookies = CookieJarStore(folder / "cookies.txt", clock=self._clock)
        ids = LayeredStore([cookies, local, memory])
        traits = LayeredStore([local, memory])
        outbox = SqliteOutbox(folder / "outbox.sqlite", policy.max_outbox_size, policy.batching)
        return ids, traits, outbox

    # -- readiness -----------------------------------------------------------------------

    def load(self) -> None:
        """Become ready: replay held calls in call order (with their own timestamps), then run
        the ``ready`` callbacks."""
        if self._loaded:
            return
        self._loaded = True
        held, self._held = self._held, []
        for call in held:
            try:
                call()
            except ValidationError:
                log.exception("a call held until load() could not be sent")
        callbacks, self._ready_callbacks = self._ready_callbacks, []
        for callback in callbacks:
            callback()

    def ready(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` once the client is loaded (at once when it already is)."""
        if self._loaded:
            callback()
        else:
            self._ready_callbacks.append(callback)

    # -- events --------------------------------------------------------------------------

    def _send(self, call: Call) -> None:
        if self._loaded:
            self._tracker.send(call)
        else:  # held until load(), with the time it was made
            held = stamped(call, self._pipeline.timestamp())
            self._held.append(functools.partial(self._tracker.send, held))

    def _identity_source(self) -> IdentitySource:
        return self._tracker

    # -- identity ------------------------------------------------------------------------

    def reset(self) -> None:
        """Log out: clear user id, anonymous id, traits, group id and group traits."""
        if self._loaded:
            self._tracker.reset()
        else:
            self._held.append(self._tracker.reset)

    def set_anonymous_id(self, anonymous_id: str | None) -> None:
        """Use ``anonymous_id`` for this person from now on (persisted)."""
        if self._loaded:
            self._tracker.set_anonymous_id(anonymous_id)
        else:
            self._held.append(functools.partial(self._tracker.set_anonymous_id, anonymous_id))

    def for_user(self, user_id: str | None = None, anonymous_id: str | None = None) -> Tracker:
        """A sender for one explicit person (servers, workers, jobs): nothing is persisted and
        no anonymous id is invented when only ``user_id`` is given."""
        values = explicit_identity_store(user_id, anonymous_id)
        return Tracker(
            self._pipeline,
            MemoryStore(values),
            anonymous_ids=self._anonymous_ids,
            mint_anonymous_ids=anonymous_id is not None,
        )

    def for_store(self, ids: KeyValueStore, traits: KeyValueStore | None = None) -> Tracker:
        """A sender whose identity lives in ``ids`` (and ``traits``), e.g. a request's cookies,
        with the same rules as this client and its delivery worker."""
        return Tracker(self._pipeline, ids, traits, anonymous_ids=self._anonymous_ids)

    # -- delivery ------------------------------------------------------------------------

    @property
    def dropped(self) -> int:
        """Messages dropped because ``max_queue_size`` messages already waited in memory."""
        return self._pipeline.worker.dropped

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything accepted so far is delivered; False if ``timeout`` ran out."""
        return self._pipeline.worker.flush(timeout)

    def shutdown(self, timeout: float | None = None) -> bool:
        """Flush (at most ``timeout`` s, default ``DeliveryPolicy.shutdown_timeout``) and stop."""
        return self._pipeline.worker.shutdown(timeout)

    def __enter__(self) -> Analytics:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.shutdown()
