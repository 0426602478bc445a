"""The admin token: from ``AUDIENCE_ADMIN_TOKEN``, or generated once and kept in the store.

A generated token is 43 URL-safe characters (256 random bits), kept in the store's ``meta``
table so every restart and every process uses the same one. ``audience admin token --rotate``
replaces it and ends every admin session; running collectors read the kept token again at
most ``REFRESH_SECONDS`` later, so the old one stops working everywhere without a restart.
"""

from __future__ import annotations

import secrets
import threading
from typing import Final, Protocol

from audience.clock import Clock
from audience.errors import StorageError
from audience.storage.admin_sessions import AdminSessionStore

ADMIN_TOKEN_KEY: Final = "admin_token"  # noqa: S105 (the meta row name, not a secret)
REFRESH_SECONDS: Final = 5.0


def generate_admin_token() -> str:
    """A new admin token: 256 random bits, 43 URL-safe characters."""
    return secrets.token_urlsafe(32)


class MetaStore(Protocol):
    """The store's ``meta`` settings."""

    def get_meta(self, key: str) -> str | None:
        """The value kept under ``key``, if any."""
        ...

    def set_meta_once(self, key: str, value: str) -> str:
        """Keep ``value`` unless a value is kept already; return the kept value."""
        ...

    def replace_meta(self, key: str, value: str) -> None:
        """Keep ``value`` under ``key``, replacing what was kept."""
        ...


class TokenStore(MetaStore, AdminSessionStore, Protocol):
    """A store keeping both the admin token and the admin sessions (either event store)."""


class AdminTokenSource(Protocol):
    """Where the guard learns the admin token."""

    def current(self) -> str:
        """The token that is valid now (may read the store: call it off the event loop)."""
        ...


class FixedAdminToken:
    """A token that never changes (``AUDIENCE_ADMIN_TOKEN``)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def current(self) -> str:
        return self._token


class StoredAdminToken:
    """The token kept in the store, read again at most every ``REFRESH_SECONDS``.

    When the store cannot be read, the token last read stays valid until it can.
    """

    def __init__(
        self, store: MetaStore, clock: Clock, token: str, refresh_seconds: float = REFRESH_SECONDS
    ) -> None:
        self._store = store
        self._clock = clock
        self._token = token
        self._refresh_seconds = refresh_seconds
        self._read_at = clock.monotonic()
        self._lock = threading.Lock()

    def current(self) -> str:
        now = self._clock.monotonic()
        with self._lock:
            if now - self._read_at < self._refresh_seconds:
                return self._token
            self._read_at = now
        try:
            kept = self._store.get_meta(ADMIN_TOKEN_KEY)
        except StorageError:
            kept = None
        with self._lock:
            if kept:
                self._token = kept
            return self._token


def settle_admin_token(store: MetaStore) -> tuple[str, bool]:
    """The kept admin token, generating it when there is none; ``(token, generated_now)``."""
    candidate = generate_admin_token()
    kept = store.set_meta_once(ADMIN_TOKEN_KEY, candidate)
    return kept, kept == candidate


def rotate_admin_token(store: TokenStore) -> tuple[str, int]:
    """Keep a new admin token and end every admin session; ``(token, sessions_ended)``."""
    token = generate_admin_token()
    store.replace_meta(ADMIN_TOKEN_KEY, token)
    return token, store.end_all_admin_sessions()
