"""The kit every test folder shares: free ports, bounded waiting, an ASGI app served in a thread,
``audience serve`` in a subprocess, a webhook receiver on loopback and the admin API client.

Everything runs for real on 127.0.0.1; ``tests/`` is on the import path, so a test writes
``from support import AudienceServer, wait_for``.
"""

from __future__ import annotations

from support.admin_api import AdminApi, EventsNotStoredError
from support.audience_server import (
    AudienceServer,
    ServerFailedError,
    audience_command,
    collectors_sharing,
)
from support.live_server import LiveServer
from support.ports import free_port
from support.receiver import Received, Receiver
from support.waiting import wait_for

__all__ = [
    "AdminApi",
    "AudienceServer",
    "EventsNotStoredError",
    "LiveServer",
    "Received",
    "Receiver",
    "ServerFailedError",
    "audience_command",
    "collectors_sharing",
    "free_port",
    "wait_for",
]
