"""Admin login sessions: a new random id at each login, two expiries, ended at logout.

A login makes a session id of 256 random bits; the admin's cookie carries it and the store
keeps only its SHA-256 (:mod:`audience.storage.admin_sessions`), shared by every collector
process on the same store. A session ends at logout, when the admin token is rotated, after
``IDLE_SECONDS`` without a request, or ``LIFETIME_SECONDS`` after the login however busy it
has been. Use is recorded at most once every ``TOUCH_SECONDS`` (so the idle expiry is exact to
that much), and expired sessions are deleted at the next login or when they are shown.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from audience.clock import Clock
from audience.storage.admin_sessions import AdminSession, AdminSessionStore

IDLE_SECONDS: Final = 12 * 3600.0
LIFETIME_SECONDS: Final = 7 * 24 * 3600.0
TOUCH_SECONDS: Final = 60.0
MAX_SESSION_ID_LENGTH: Final = 128
"""Longer cookie values are refused before they are hashed or looked up."""


def new_session_id() -> str:
    """256 random bits, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


def session_hash(session_id: str) -> str:
    """What the store keeps of a session id."""
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(frozen=True)
class SessionPolicy:
    """How long sessions last."""

    idle_seconds: float = IDLE_SECONDS
    lifetime_seconds: float = LIFETIME_SECONDS
    touch_seconds: float = TOUCH_SECONDS

    def expired(self, session: AdminSession, now: float) -> bool:
        """Whether ``session`` has been idle too long or has lived its whole lifetime."""
        return (
            now - session.last_seen_at >= self.idle_seconds
            or now - session.created_at >= self.lifetime_seconds
        )

    def needs_touch(self, session: AdminSession, now: float) -> bool:
        """Whether the store should hear that the session was used now."""
        return now - session.last_seen_at >= self.touch_seconds


class AdminSessions:
    """Starts, checks and ends admin sessions in an ``AdminSessionStore`` (blocking calls)."""

    def __init__(
        self,
        store: AdminSessionStore,
        clock: Clock,
        policy: SessionPolicy | None = None,
        new_id: Callable[[], str] = new_session_id,
    ) -> None:
        self._store = store
        self._clock = clock
        self.policy = policy or SessionPolicy()
        self._new_id = new_id

    def start(self) -> str:
        """A new session; returns its id for the cookie. Expired sessions are purged first."""
        now = self._now()
        self._store.purge_admin_sessions(
            idle_before=now - self.policy.idle_seconds,
            created_before=now - self.policy.lifetime_seconds,
        )
        session_id = self._new_id()
        self._store.add_admin_session(AdminSession(session_hash(session_id), now, now))
        return session_id

    def check(self, session_id: str) -> bool:
        """Whether ``session_id`` is a live session; records its use, forgets it when expired."""
        if not session_id or len(session_id) > MAX_SESSION_ID_LENGTH:
            return False
        id_hash = session_hash(session_id)
        session = self._store.admin_session(id_hash)
        if session is None:
            return False
        now = self._now()
        if self.policy.expired(session, now):
            self._store.end_admin_session(id_hash)
            return False
        if self.policy.needs_touch(session, now):
            self._store.touch_admin_session(id_hash, now)
        return True

    def end(self, session_id: str) -> None:
        """End the session (logout): its cookie no longer works anywhere."""
        if session_id and len(session_id) <= MAX_SESSION_ID_LENGTH:
            self._store.end_admin_session(session_hash(session_id))

    def end_all(self) -> int:
        """End every session; returns how many there were."""
        return self._store.end_all_admin_sessions()

    def _now(self) -> float:
        return self._clock.now().timestamp()
