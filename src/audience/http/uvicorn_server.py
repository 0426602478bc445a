"""The collector's HTTP server: uvicorn on uvloop and httptools, bounded for the open internet.

uvicorn's httptools protocol cuts nothing off on its own: a connection that never sends, a head
trickled a byte at a time, a body that stops, or a header of many megabytes each holds a
descriptor (and memory) for as long as the client likes, and a thousand of them lock every
visitor out. ``LimitedHttpToolsProtocol`` is that protocol with the limits enforced where the
bytes arrive (``data_received``) and by one lazy timer per connection:

- **Header size.** The request line and headers together may hold ``max_header_bytes``
  (32 KiB: room for big cookie headers). Bytes are counted as they arrive, before the parser
  buffers them, so a 16 MB header costs no more memory than a 32 KiB one: 431 and close.
- **Header timeout.** The whole head must arrive within ``header_timeout`` of the
  connection's open (first request) or of the request's first byte (later ones). The deadline
  is fixed when the clock starts: trickling bytes do not extend it. A connection that sent
  nothing is closed silently; one that started a request gets 408.
- **Body timeout.** After the headers the body must make progress: the deadline starts
  ``body_timeout`` ahead and each chunk moves it on by ``len(chunk) / body_min_rate``
  seconds, never further than ``body_timeout`` past that chunk. A body that stops, or drips
  slower than ``body_min_rate`` bytes a second on average, gets 408. Time the server itself
  stops reading (the application has not taken the body yet) does not count.
- **Slow readers.** A response that cannot be written for ``body_timeout`` (the client does
  not read) drops the connection.
- **Keep-alive.** An idle connection between requests is closed after ``keep_alive_timeout``.
- **Connection cap.** At most ``max_connections`` are admitted. At the cap a new connection
  closes the one that has been idle longest (no request in progress); when every admitted
  connection is mid-request it is answered 503 with ``Retry-After`` and closed, never left
  unanswered.

The cap comes from the descriptor limit: ``raise_descriptor_limit`` raises the soft
``RLIMIT_NOFILE`` to the hard limit at start, and ``connection_cap`` leaves a reserve for the
stores, child processes, outgoing connections and refusals in progress. uvicorn's own proxy
headers are off: which ``X-Forwarded-For`` to believe is the application's decision.

A response's head is sent with the first write of its body, in one ``transport.write``: one
system call and one packet for the usual reply instead of two (``HeadWithBody``). A head whose
body is not written in the same turn of the event loop is sent alone at the end of that turn.

Every answer the limits give (400, 408, 431, 503) is sent with ``Connection: close``, then the
write side is shut and what the client still sends is read and dropped for up to
``LINGER_SECONDS``, so the client reads the answer instead of a reset.

``run`` starts the server for ``audience serve``, one process or ``--workers N``, and is the one
place the server's options are set (``shutdown.DRAIN_SECONDS`` among them).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import resource
import weakref
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any, Final, Protocol, cast

import httptools
import orjson
import uvicorn
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from audience import logs
from audience.config import Settings
from audience.errors import PayloadTooLargeError
from audience.http.shutdown import DRAIN_SECONDS, exit_cleanly_after_stop_signals

logger = logging.getLogger(__name__)

LINGER_SECONDS: Final = 2.0
"""How long a connection answered by a limit stays open to drain the client's leftover bytes."""

RETRY_AFTER_SECONDS: Final = 1
"""The ``Retry-After`` of the 503 sent past the connection cap."""

REFUSAL_REPORT_SECONDS: Final = 60.0
"""Refusals past the cap are logged at most once a minute, with their count."""

RESERVED_DESCRIPTORS: Final = 128
"""Descriptors kept back from the cap in any case: stores, pipes, logs, outgoing connections."""

UNLIMITED_DESCRIPTORS: Final = 1 << 20
"""The soft limit asked for when the hard limit is unlimited (Linux's default ``nr_open``)."""


@dataclass(frozen=True)
class HttpLimits:
    """The bounds every connection is held to; seconds, bytes and bytes per second.

    The defaults are the settings' (``audience.config``).
    """

    max_header_bytes: int
    header_timeout: float
    body_timeout: float
    body_min_rate: int
    keep_alive_timeout: float
    max_connections: int

    @classmethod
    def from_settings(cls, settings: Settings, descriptor_limit: int) -> HttpLimits:
        """The settings' limits, the cap sized for ``descriptor_limit`` open files."""
        return cls(
            max_header_bytes=settings.http_max_header_bytes,
            header_timeout=settings.http_header_timeout,
            body_timeout=settings.http_body_timeout,
            body_min_rate=settings.http_body_min_rate,
            keep_alive_timeout=settings.http_keep_alive_timeout,
            max_connections=connection_cap(descriptor_limit, settings.http_max_connections),
        )


def descriptor_reserve(descriptor_limit: int) -> int:
    """Descriptors not given to client connections: 128, plus a sixteenth of the limit."""
    return RESERVED_DESCRIPTORS + descriptor_limit // 16


def connection_cap(descriptor_limit: int, requested: int | None = None) -> int:
    """The connection cap: ``requested`` if given, never more than the descriptors allow.

    The descriptors allow the limit less ``descriptor_reserve`` (at least one connection).
    """
    allowed = max(1, descriptor_limit - descriptor_reserve(descriptor_limit))
    return allowed if requested is None else min(requested, allowed)


def refusal_budget(max_connections: int) -> int:
    """How many refused connections may linger at once; past it they are closed at once."""
    return max(8, min(256, max_connections // 16))


def next_body_deadline(deadline: float, now: float, received: int, limits: HttpLimits) -> float:
    """The body's deadline after ``received`` more bytes arrive at ``now``.

    Each byte buys ``1 / body_min_rate`` seconds, but the deadline never runs more than
    ``body_timeout`` past the latest progress: a stall is always cut within ``body_timeout``.
    """
    return min(deadline + received / limits.body_min_rate, now + limits.body_timeout)


def raise_descriptor_limit() -> int:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit; the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = UNLIMITED_DESCRIPTORS if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError) as exc:
            logger.warning(
                "could not raise the open file limit from %d to %d: %s", soft, wanted, exc
            )
        else:
            soft = wanted
    return UNLIMITED_DESCRIPTORS if soft == resource.RLIM_INFINITY else soft


# -- admission --------------------------------------------------------------------------------


class Evictable(Protocol):
    """A connection the book can close to make room."""

    def evict(self) -> None: ...


class ConnectionBook:
    """The connections one server has admitted, and which of them are idle, oldest first.

    ``admit`` takes a new connection while there is room; at the cap it evicts the connection
    idle longest, and refuses only when none is idle. A connection is idle from its open or
    the end of a response until the next byte arrives.
    """

    def __init__(self, cap: int, refusals_allowed: int) -> None:
        self.cap = cap
        self.refusals_allowed = refusals_allowed
        self.lingering_refusals = 0
        self._unreported_refusals = 0
        self._reported_at = -math.inf
        self._admitted: set[Evictable] = set()
        self._idle: OrderedDict[Evictable, None] = OrderedDict()

    @property
    def admitted(self) -> int:
        return len(self._admitted)

    def admit(self, connection: Evictable) -> bool:
        """Admit ``connection`` as idle, evicting the longest-idle one at the cap; or refuse."""
        if len(self._admitted) >= self.cap:
            if not self._idle:
                return False
            victim, _ = self._idle.popitem(last=False)
            self._admitted.discard(victim)
            victim.evict()
        self._admitted.add(connection)
        self._idle[connection] = None
        return True

    def idle(self, connection: Evictable) -> None:
        """``connection`` waits for its next request: the newest idle one (if not idle yet)."""
        if connection in self._admitted:
            self._idle[connection] = None

    def busy(self, connection: Evictable) -> None:
        """``connection`` has a request in progress: it cannot be evicted."""
        self._idle.pop(connection, None)

    def leave(self, connection: Evictable) -> None:
        """``connection`` is closed (or handed to another protocol): its place is free."""
        self._admitted.discard(connection)
        self._idle.pop(connection, None)

    def note_refusal(self, now: float) -> int:
        """Count a refusal; how many to report when a report is due (one a minute), else 0."""
        self._unreported_refusals += 1
        if now - self._reported_at < REFUSAL_REPORT_SECONDS:
            return 0
        self._reported_at = now
        unreported, self._unreported_refusals = self._unreported_refusals, 0
        return unreported


_BOOKS: weakref.WeakKeyDictionary[ServerState, ConnectionBook] = weakref.WeakKeyDictionary()


def _book_for(server_state: ServerState, limits: HttpLimits) -> ConnectionBook:
    """The book of the server owning ``server_state``: one per server, in its own process."""
    book = _BOOKS.get(server_state)
    if book is None:
        book = ConnectionBook(limits.max_connections, refusal_budget(limits.max_connections))
        _BOOKS[server_state] = book
    return book


# -- answers ----------------------------------------------------------------------------------


def _answer(status: str, code: str, message: str, *extra: str) -> bytes:
    """A complete response in the collector's error shape, closing the connection."""
    body = orjson.dumps({"code": code, "message": message, "meta": {"errors": [message]}})
    head = [
        f"HTTP/1.1 {status}",
        "content-type: application/json",
        f"content-length: {len(body)}",
        "connection: close",
        *extra,
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + body


@dataclass(frozen=True)
class _Answers:
    bad_request: bytes
    header_too_large: bytes
    header_timeout: bytes
    body_timeout: bytes
    too_many_connections: bytes

    @classmethod
    @functools.cache
    def for_limits(cls, limits: HttpLimits) -> _Answers:
        return cls(
            bad_request=_answer("400 Bad Request", "bad_request", "the request is not valid HTTP"),
            header_too_large=_answer(
                "431 Request Header Fields Too Large",
                "header_too_large",
                f"the request line and headers are larger than {limits.max_header_bytes} bytes",
            ),
            header_timeout=_answer(
                "408 Request Timeout",
                "request_timeout",
                f"the request headers did not arrive within {limits.header_timeout:g} s",
            ),
            body_timeout=_answer(
                "408 Request Timeout",
                "request_timeout",
                f"the request body stalled for {limits.body_timeout:g} s or arrived slower "
                f"than {limits.body_min_rate} bytes a second",
            ),
            too_many_connections=_answer(
                "503 Service Unavailable",
                "too_many_connections",
                f"the server is at its limit of {limits.max_connections} connections",
                f"retry-after: {RETRY_AFTER_SECONDS}",
            ),
        )


# -- writing a response -----------------------------------------------------------------------


CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
"""The interim response uvicorn writes before reading a body that waits for it."""


class HeadWithBody:
    """The transport one request's response is written to, holding the head for the body.

    uvicorn writes a response's head when the application starts it and the body when the
    application sends it, which for almost every reply is at once. The head (the first write
    that is not ``100 Continue``) is held and joined to the next write; it is sent alone at the
    end of the event loop's turn if the body has not come by then, and before anything else is
    done with the transport. What the client receives is unchanged, byte for byte.
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._head_seen = False
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + data)
        elif self._head_seen or data == CONTINUE:
            self._transport.write(data)
        else:
            self._head_seen = True
            self._held = data
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        """Send the head held, if any (not to a transport closed since: that head is moot)."""
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():
                self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        """Anything else of the transport, after the head held is sent."""
        self.flush()
        return getattr(self._transport, name)


# -- the protocol -----------------------------------------------------------------------------


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with ``HttpLimits`` enforced on every connection.

    Keep-alive, pipelining, chunked bodies and ``Expect: 100-continue`` are the base
    protocol's; this class only adds the clocks, the byte count and admission.
    """

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: HttpLimits,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits
        self._book = _book_for(server_state, limits)
        self._answers = _Answers.for_limits(limits)
        # The watchdog wakes at least this often, so a deadline set later never needs it moved.
        self._period = min(limits.header_timeout, limits.body_timeout)
        self._watchdog: asyncio.TimerHandle | None = None
        self._linger: asyncio.TimerHandle | None = None
        self._head_deadline: float | None = None
        self._head_bytes = 0
        self._head_uncounted = False
        self._chunk_bytes = 0
        self._in_message = False
        self._body_deadline: float | None = None
        self._write_stalled_at: float | None = None
        self._is_idle = False
        self._closing = False
        self._lingering_refusal = False
        # This connection's requests not yet answered in full, oldest (the one owed) first.
        self._unanswered: deque[RequestResponseCycle] = deque()

    # -- connection -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if not self._book.admit(self):
            self._refuse()
            return
        self._is_idle = True
        now = self.loop.time()
        self._head_deadline = now + self.limits.header_timeout
        self._watchdog = self.loop.call_at(now + self._period, self._check_deadlines)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disconnect_requests()
        self._stop_clocks()
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        if self._lingering_refusal:
            self._lingering_refusal = False
            self._book.lingering_refusals -= 1
        self._book.leave(self)
        super().connection_lost(exc)

    def evict(self) -> None:
        """Close this idle connection to make room for a new one (the book has let it go)."""
        self._close()

    def _refuse(self) -> None:
        book = self._book
        linger = book.lingering_refusals < book.refusals_allowed
        if linger:
            book.lingering_refusals += 1
            self._lingering_refusal = True
        unreported = book.note_refusal(self.loop.time())
        if unreported:
            logger.warning(
                "refused %d connection(s): %d are open, the limit", unreported, book.admitted
            )
        self._answer_and_close(self._answers.too_many_connections, linger=linger)

    # -- reading --------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return  # answered already: what the client still sends is dropped
        if self._is_idle:
            self._is_idle = False
            self._book.busy(self)
        self._unset_keepalive_if_required()
        size = len(data)
        self._chunk_bytes = size
        if self._head_deadline is not None:
            self._head_bytes += size
        elif self._in_message:
            if self._body_deadline is not None:
                self._body_deadline = next_body_deadline(
                    self._body_deadline, self.loop.time(), size, self.limits
                )
        else:
            # The first bytes after a response (or between requests) start the next head's clock.
            self._head_deadline = self.loop.time() + self.limits.header_timeout
            self._head_bytes = size
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, PayloadTooLargeError):
                self._answer_and_close(self._answers.header_too_large)
            else:
                self._bad_request(exc)
            return
        except httptools.HttpParserError as exc:
            self._bad_request(exc)
            return
        except httptools.HttpParserUpgrade:
            # No route speaks WebSocket (``ws="none"``): the request was answered as plain
            # HTTP, and a warning for each would let any client fill the log.
            logger.debug("answered an upgrade request as plain HTTP")
            return
        if self._head_deadline is not None and self._head_bytes > self.limits.max_header_bytes:
            self._answer_and_close(self._answers.header_too_large)

    def on_message_begin(self) -> None:
        self._in_message = True
        if self._head_deadline is None:
            # A pipelined request starting inside the chunk that ended the one before it:
            # its bytes in this chunk are not counted, so on_headers_complete measures it.
            self._head_deadline = self.loop.time() + self.limits.header_timeout
            self._head_bytes = 0
            self._head_uncounted = True
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        if self._head_uncounted or self._head_bytes > self.limits.max_header_bytes:
            # The count is of whole chunks, which may hold body bytes or another request's
            # too: measure the head itself.
            size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
            if size > self.limits.max_header_bytes:
                # Stops the parser; data_received answers 431.
                raise PayloadTooLargeError(
                    "the request line and headers", self.limits.max_header_bytes
                )
        self._head_deadline = None
        self._head_bytes = 0
        self._head_uncounted = False
        self._body_deadline = self.loop.time() + self.limits.body_timeout
        before = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not before:
            cycle.transport = cast(asyncio.Transport, HeadWithBody(self.transport, self.loop))
            self._unanswered.append(cycle)

    def on_message_complete(self) -> None:
        self._in_message = False
        self._body_deadline = None
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._closing or self.transport.is_closing():
            return
        if self._head_deadline is not None:
            # The next head started while this response was being made; it may be overdue.
            if self.loop.time() >= self._head_deadline and not self._responding():
                self._head_timed_out()
        elif not self._in_message and not self._responding():
            self._is_idle = True
            self._book.idle(self)

    # -- writing --------------------------------------------------------------------------

    def pause_writing(self) -> None:
        if self._write_stalled_at is None:
            self._write_stalled_at = self.loop.time()
        super().pause_writing()

    def resume_writing(self) -> None:
        self._write_stalled_at = None
        super().resume_writing()

    # -- clocks ---------------------------------------------------------------------------

    def _check_deadlines(self) -> None:
        """The watchdog: cut the connection past a deadline, else sleep until the next one."""
        self._watchdog = None
        if self._closing:
            return
        if self.transport.is_closing():
            # uvicorn closed it (keep-alive timeout, Connection: close): bound the flush too.
            self._close()
            return
        now = self.loop.time()
        wake = now + self._period
        if self._head_deadline is not None:
            if now < self._head_deadline:
                wake = min(wake, self._head_deadline)
            elif not self._responding():
                self._head_timed_out()
                return
            # else: the response in progress is sent first; on_response_complete cuts then.
        if self._body_deadline is not None:
            if self.flow.read_paused:
                # The server stopped reading (the application has not taken the body yet,
                # or a pipelined request waits its turn): the client is not late.
                self._body_deadline = max(self._body_deadline, now + self.limits.body_timeout)
            elif now >= self._body_deadline:
                self._body_timed_out()
                return
            wake = min(wake, self._body_deadline)
        if self._write_stalled_at is not None:
            stall_ends = self._write_stalled_at + self.limits.body_timeout
            if now >= stall_ends:
                logger.info("dropped a client that did not read its response")
                self._close(abort=True)
                return
            wake = min(wake, stall_ends)
        self._watchdog = self.loop.call_at(wake, self._check_deadlines)

    def _stop_clocks(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        self._unset_keepalive_if_required()

    def _responding(self) -> bool:
        """Whether a request of this connection is still owed (the whole of) its response."""
        unanswered = self._unanswered
        while unanswered and unanswered[0].response_complete:
            unanswered.popleft()
        return bool(unanswered)

    def _disconnect_requests(self) -> None:
        """Tell every unanswered request of this connection that the client is gone.

        uvicorn tells only the newest; with pipelining, the one being answered is older, and
        would otherwise go on writing to a closed transport.
        """
        for cycle in self._unanswered:
            if not cycle.response_complete:
                cycle.disconnected = True
                cycle.message_event.set()

    def _head_timed_out(self) -> None:
        if self._in_message:
            self._answer_and_close(self._answers.header_timeout)
        else:
            # Nothing (or only blank lines) was sent: there is no request to answer.
            self._close()

    def _body_timed_out(self) -> None:
        if self.cycle is not None and self.cycle.response_started:
            # The application answered without reading the whole body; only the close is left.
            self._close()
            return
        self._answer_and_close(self._answers.body_timeout, request=self.cycle)

    def _bad_request(self, exc: Exception) -> None:
        logger.debug("invalid HTTP request: %s", exc)
        self._answer_and_close(self._answers.bad_request)

    def _answer_and_close(
        self, answer: bytes, *, request: RequestResponseCycle | None = None, linger: bool = True
    ) -> None:
        """Send ``answer`` to ``request`` (or to a request not yet parsed), shut the write
        side, drain what the client still sends, then close.

        When an earlier request is still owed its response, an answer now would be taken for
        that one's: the connection is only closed. Without ``linger`` (or where the write side
        cannot be shut alone) it closes at once.
        """
        if self._responding() and self._unanswered[0] is not request:
            self._close()
            return
        # The application gets a disconnect and writes nothing after this answer.
        self._disconnect_requests()
        transport = self.transport
        transport.write(answer)
        if not linger or not transport.can_write_eof():
            self._close()
            return
        self._closing = True
        self._stop_clocks()
        self._book.busy(self)
        transport.write_eof()
        self.flow.resume_reading()
        # The client closing its side ends the linger early (eof_received closes).
        self._linger = self.loop.call_later(LINGER_SECONDS, transport.abort)

    def _close(self, *, abort: bool = False) -> None:
        """Close the connection, flushing what is written; a client that does not read the
        rest within ``LINGER_SECONDS`` is cut off then."""
        self._closing = True
        self._disconnect_requests()
        self._stop_clocks()
        self._book.busy(self)
        if abort:
            self.transport.abort()
            return
        self.transport.close()
        if self._linger is None:
            self._linger = self.loop.call_later(LINGER_SECONDS, self.transport.abort)

    def send_400_response(self, msg: str) -> None:
        self._bad_request(ValueError(msg))


# -- running ----------------------------------------------------------------------------------


def protocol_factory(limits: HttpLimits) -> type[asyncio.Protocol]:
    """What uvicorn's ``http=`` takes: it calls it like a class; picklable for ``--workers``."""
    return cast(type[asyncio.Protocol], functools.partial(LimitedHttpToolsProtocol, limits=limits))


def run(app: Any, settings: Settings) -> None:
    """Serve ``app`` with the settings' limits until stopped.

    ``app`` is the application, or with ``settings.workers`` above 1 the import string of the
    factory each worker process calls to build its own.
    """
    descriptors = raise_descriptor_limit()
    limits = HttpLimits.from_settings(settings, descriptors)
    requested = settings.http_max_connections
    if requested is not None and requested > limits.max_connections:
        logger.warning(
            "AUDIENCE_HTTP_MAX_CONNECTIONS %d is more than %d open files allow: using %d",
            requested,
            descriptors,
            limits.max_connections,
        )
    workers = settings.workers if isinstance(app, str) else None
    if workers is None:
        exit_cleanly_after_stop_signals()
    uvicorn.run(
        app,
        factory=isinstance(app, str),
        workers=workers,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http=protocol_factory(limits),
        # No route speaks WebSocket: upgrade requests are answered as plain HTTP.
        ws="none",
        # The application decides whose X-Forwarded-For to believe (--trusted-proxy).
        proxy_headers=False,
        # Typed int, but only ever handed to loop.call_later: fractions of a second work.
        timeout_keep_alive=limits.keep_alive_timeout,  # type: ignore[arg-type]
        timeout_graceful_shutdown=DRAIN_SECONDS,
        log_level=settings.log_level.lower(),
        log_config=logs.uvicorn_log_config(settings.log_level, settings.log_format, "collector"),
        access_log=False,
        lifespan="on",
        server_header=False,
    )
