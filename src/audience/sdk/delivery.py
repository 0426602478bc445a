"""Posting a batch to the collector over HTTP.

What an answer means and how long to wait before trying again is the one rule of
``audience.retry``: 2xx delivered; 408, 429 and 5xx (and network errors) are worth trying again;
any other status is permanent and goes to ``on_error``.
"""

from __future__ import annotations

import base64
import gzip as gzip_module
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import httpx

from audience.errors import ConfigError
from audience.retry import no_answer


@dataclass(frozen=True)
class Response:
    """What the collector answered: the status and its ``Retry-After`` header, if any."""

    status: int
    retry_after: str | None = None


class Transport(Protocol):
    """Sends one batch body; raises ``RetryableDeliveryError`` when no answer came."""

    def post(self, body: bytes) -> Response:
        """POST ``body`` (a JSON batch) to ``{host}/v1/batch``."""
        ...

    def after_fork_in_child(self) -> None:
        """Forget connections inherited from the parent process without closing them."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


_inherited_clients: list[httpx.Client] = []


class HttpTransport:
    """``POST {host}/v1/batch`` with HTTP Basic auth (write key as user), gzip by default."""

    def __init__(
        self,
        host: str,
        write_key: str,
        *,
        gzip: bool = True,
        timeout: float = 15.0,
        user_agent: str = "audience-python",
    ) -> None:
        if not host.startswith(("http://", "https://")):
            raise ConfigError(f"host must start with http:// or https://, not {host!r}")
        self.url = host.rstrip("/") + "/v1/batch"
        self._gzip = gzip
        self._headers = {
            **basic_auth_header(write_key),
            "Content-Type": "application/json",
            "User-Agent": user_agent,
        }
        if gzip:
            self._headers["Content-Encoding"] = "gzip"
        self._timeout = timeout
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def _http(self) -> httpx.Client:
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = httpx.Client(timeout=self._timeout, headers=self._headers)
                client = self._client
        return client

    def post(self, body: bytes) -> Response:
        content = gzip_module.compress(body, compresslevel=1, mtime=0) if self._gzip else body
        try:
            answer = self._http().post(self.url, content=content)
        except httpx.HTTPError as exc:
            raise no_answer(f"{type(exc).__name__}: {exc}") from exc
        return Response(answer.status_code, answer.headers.get("retry-after"))

    def after_fork_in_child(self) -> None:
        # Closing the inherited pool could end TLS sessions the parent still uses: keep it.
        if self._client is not None:
            _inherited_clients.append(self._client)
        self._client = None
        self._lock = threading.Lock()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def basic_auth_header(write_key: str) -> Mapping[str, str]:
    """The ``Authorization`` header the collector expects for ``write_key``."""
    return {"Authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()}
