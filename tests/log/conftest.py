"""Fixtures of the log's tests: real nats-server processes and a PostgreSQL schema that the
collector and writer processes share, as on several hosts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from postgres_db import schema_with_source
from support.nats_servers import NatsServer, nats_cluster, nats_server

WRITE_KEY = "log-tests-key"


@pytest.fixture
def database() -> Iterator[str]:
    """A PostgreSQL schema of its own with the source ``web`` (write key ``WRITE_KEY``)."""
    with schema_with_source(WRITE_KEY) as url:
        yield url


@pytest.fixture
def nats(tmp_path: Path) -> Iterator[NatsServer]:
    """One JetStream server, started."""
    with nats_server(tmp_path / "nats") as server:
        yield server


@pytest.fixture
def stopped_nats(tmp_path: Path) -> Iterator[NatsServer]:
    """One JetStream server on a port of its own, not started yet."""
    with nats_server(tmp_path / "nats", start=False) as server:
        yield server


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[list[NatsServer]]:
    """A three-node JetStream cluster, started."""
    with nats_cluster(tmp_path / "cluster") as servers:
        yield servers
