"""SDK test fixtures: a misbehaving collector and clients that are always shut down."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from audience import Analytics
from audience.sdk import DeliveryPolicy, RetryPolicy
from audience.sdk.testing import RecordingTransport

from .misbehaving_server import MisbehavingServer

FAST_RETRIES = RetryPolicy(base=0.02, cap=0.1)
FAST = DeliveryPolicy(retry=FAST_RETRIES, timeout=5.0, persist_interval=0.02, idle_poll=0.05)


@pytest.fixture
def server() -> Iterator[MisbehavingServer]:
    collector = MisbehavingServer()
    yield collector
    collector.stop()


MakeAnalytics = Callable[..., Analytics]


@pytest.fixture
def make_analytics(tmp_path: Path) -> Iterator[MakeAnalytics]:
    """Build clients (memory storage and a recording transport unless told otherwise)."""
    made: list[Analytics] = []

    def make(**overrides: Any) -> Analytics:
        options: dict[str, Any] = {"storage": "memory", "delivery": FAST}
        if "host" not in overrides and "transport" not in overrides:
            options["transport"] = RecordingTransport()
        if overrides.get("storage") == "disk" and "storage_dir" not in overrides:
            options["storage_dir"] = tmp_path / "identity"
        options.update(overrides)
        client = Analytics(options.pop("write_key", "WRITE_KEY"), **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.shutdown(timeout=2.0)


Recording = Callable[..., tuple[Analytics, RecordingTransport]]


@pytest.fixture
def recording(make_analytics: MakeAnalytics) -> Recording:
    """A client and the transport that records what it delivers."""

    def make(**overrides: Any) -> tuple[Analytics, RecordingTransport]:
        transport = RecordingTransport()
        return make_analytics(transport=transport, **overrides), transport

    return make


def sent(analytics: Analytics, transport: RecordingTransport) -> list[dict[str, Any]]:
    """Flush and return every message delivered so far."""
    assert analytics.flush(timeout=10)
    return transport.messages
