"""Test doubles for programs that use the SDK: a transport that keeps what it is given.

``Analytics(..., storage="memory", transport=RecordingTransport())`` sends nothing over the network;
after ``flush()`` the messages are in ``transport.messages`` in the order they were delivered.
"""

from __future__ import annotations

import threading

import orjson

from audience.jsontypes import JSONObject
from audience.sdk.delivery import Response


class RecordingTransport:
    """A ``Transport`` that answers ``status`` and records every batch body it receives."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.bodies: list[JSONObject] = []
        self._lock = threading.Lock()

    def post(self, body: bytes) -> Response:
        with self._lock:
            self.bodies.append(orjson.loads(body))
        return Response(self.status)

    @property
    def messages(self) -> list[JSONObject]:
        """Every message of every batch received, in order."""
        with self._lock:
            return [message for body in self.bodies for message in body["batch"]]

    def after_fork_in_child(self) -> None:
        self._lock = threading.Lock()

    def close(self) -> None:
        """Nothing to release."""
