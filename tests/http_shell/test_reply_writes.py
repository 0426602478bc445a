"""How a reply reaches the transport: its head and body in one write, nothing reordered.

The server's own protocol is fed real request bytes on a real event loop; the transport at
the end records what it is given, as the socket would receive it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState

from audience.http.uvicorn_server import (
    CONTINUE,
    HeadWithBody,
    HttpLimits,
    LimitedHttpToolsProtocol,
)

LIMITS = HttpLimits(
    max_header_bytes=32768,
    header_timeout=10.0,
    body_timeout=10.0,
    body_min_rate=1000,
    keep_alive_timeout=5.0,
    max_connections=4,
)
REQUEST = b"POST /v1/t HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}"


class RecordingTransport(asyncio.Transport):
    """A transport that keeps each write apart, and whether it was closed."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(
            name, default
        )

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def can_write_eof(self) -> bool:
        return False


def served(app: Any, data: bytes) -> RecordingTransport:
    """What the protocol writes for ``data`` sent on one connection to ``app``."""
    transport = RecordingTransport()

    async def run() -> None:
        config = Config(app, lifespan="off", proxy_headers=False, access_log=False)
        config.load()
        protocol = LimitedHttpToolsProtocol(config, ServerState(), {}, limits=LIMITS)
        protocol.connection_made(transport)
        protocol.data_received(data)
        for _ in range(10):  # let the application answer
            await asyncio.sleep(0)
        protocol.connection_lost(None)

    asyncio.run(run())
    return transport


async def answer_json(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"2")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"{}"})


def test_a_reply_s_head_and_body_are_written_together_once() -> None:
    transport = served(answer_json, REQUEST)
    assert len(transport.writes) == 1
    head, body = transport.writes[0].split(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"content-length: 2" in head
    assert body == b"{}"


def test_pipelined_replies_are_written_whole_and_in_order() -> None:
    transport = served(answer_json, REQUEST * 3)
    assert len(transport.writes) == 3
    assert all(write.endswith(b"\r\n\r\n{}") for write in transport.writes)


def test_a_streamed_body_a_turn_later_follows_its_head_chunk_by_chunk() -> None:
    async def stream(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await asyncio.sleep(0)
        await send({"type": "http.response.body", "body": b"one", "more_body": True})
        await send({"type": "http.response.body", "body": b"two"})

    writes = served(stream, REQUEST).writes
    assert writes == [
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
        b"3\r\none\r\n",
        b"3\r\ntwo\r\n0\r\n\r\n",
    ]


def test_a_head_whose_body_is_late_is_written_alone_at_the_end_of_the_turn() -> None:
    transport = RecordingTransport()

    async def run() -> None:
        joined = HeadWithBody(transport, asyncio.get_running_loop())
        joined.write(b"HEAD")
        assert transport.writes == []
        await asyncio.sleep(0)
        assert transport.writes == [b"HEAD"]
        joined.write(b"BODY")

    asyncio.run(run())
    assert transport.writes == [b"HEAD", b"BODY"]


def test_an_interim_continue_is_not_held_and_closing_sends_a_held_head_first() -> None:
    transport = RecordingTransport()

    async def run() -> None:
        joined = HeadWithBody(transport, asyncio.get_running_loop())
        joined.write(CONTINUE)
        joined.write(b"HEAD")
        joined.close()

    asyncio.run(run())
    assert transport.writes == [CONTINUE, b"HEAD"]
    assert transport.closed
