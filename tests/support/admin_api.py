"""The collector's admin API over HTTP, with the admin bearer token: stored events, profiles,
resolution, and any other admin route."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

import httpx

POLL_SECONDS = 0.2


class EventsNotStoredError(AssertionError):
    """The expected events did not show up in the admin API."""


class AdminApi:
    """A client of one collector's admin API (close it, or use it as a context manager).

    ``get`` and ``post`` reach any route with the token; the other methods read what tests
    wait for. Everything the collector does in the background (storing, resolving) is waited
    for with a bound, failing with what was found.
    """

    def __init__(self, base_url: str, token: str, timeout: float = 10.0) -> None:
        self.base_url = base_url
        self.http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
        )

    def __enter__(self) -> AdminApi:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connections."""
        self.http.close()

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        """``GET path`` with the admin token (``params=`` and the rest as httpx takes them)."""
        return self.http.get(path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        """``POST path`` with the admin token."""
        return self.http.post(path, **kwargs)

    # -- events --------------------------------------------------------------------------

    def events(
        self, source: str | None = None, limit: int = 1000, **filters: str
    ) -> list[dict[str, Any]]:
        """``GET /api/events``: stored messages of ``source`` (of every source when ``None``),
        newest first.

        ``filters`` are the API's query filters: ``type``, ``userId``, ``anonymousId``, ``event``.
        """
        params = {"limit": str(limit), **filters}
        if source is not None:
            params["source"] = source
        response = self.http.get("/api/events", params=params)
        response.raise_for_status()
        events: list[dict[str, Any]] = response.json()["events"]
        return events

    def wait_for_events(
        self,
        source: str,
        count: int,
        *,
        where: Callable[[dict[str, Any]], bool] = lambda event: True,
        timeout: float = 15.0,
        **filters: str,
    ) -> list[dict[str, Any]]:
        """Poll until ``count`` stored events of ``source`` match; return them oldest first.

        Clients deliver in the background, so a test waits for what it sent to arrive. The
        loop is bounded by ``timeout``; on expiry it fails showing what was stored.
        """
        deadline = time.monotonic() + timeout
        matching: list[dict[str, Any]] = []
        while True:
            matching = [e for e in self.events(source, limit=1000, **filters) if where(e)]
            if len(matching) >= count or time.monotonic() >= deadline:
                break
            time.sleep(POLL_SECONDS)
        if len(matching) < count:
            raise EventsNotStoredError(
                f"expected {count} events in source {source!r}, found {len(matching)}: {matching}"
            )
        return list(reversed(matching))

    def wait_for_message_ids(
        self, source: str, message_ids: Sequence[str], *, timeout: float = 15.0
    ) -> dict[str, dict[str, Any]]:
        """Wait until every one of ``message_ids`` is stored; return them by messageId, in the
        order of ``message_ids``."""
        wanted = set(message_ids)
        stored = self.wait_for_events(
            source,
            len(wanted),
            where=lambda event: event.get("messageId") in wanted,
            timeout=timeout,
        )
        by_id = {event["messageId"]: event for event in stored}
        missing = wanted - by_id.keys()
        if missing:
            raise EventsNotStoredError(f"not stored in source {source!r}: {sorted(missing)}")
        return {message_id: by_id[message_id] for message_id in message_ids}

    # -- resolution and profiles ---------------------------------------------------------

    def wait_until_resolved(self, timeout: float = 30.0) -> None:
        """Wait until the resolver has applied every event stored when this was called
        (``/api/resolution``), however many come meanwhile."""
        deadline = time.monotonic() + timeout
        status: dict[str, Any] = self.http.get("/api/resolution").json()
        stored = int(status["lastSeq"])
        while time.monotonic() < deadline:
            if stored > 0 and status["cursor"] >= stored:
                return
            time.sleep(POLL_SECONDS / 4)
            status = self.http.get("/api/resolution").json()
            stored = stored or int(status["lastSeq"])
        raise AssertionError(f"resolution did not catch up within {timeout:g} s: {status}")

    def profile(self, **identifier: str) -> dict[str, Any] | None:
        """``GET /api/profiles/lookup``: the profile holding ``identifier``, ``None`` if none."""
        response = self.http.get("/api/profiles/lookup", params=identifier)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        profile: dict[str, Any] = response.json()["profile"]
        return profile

    def wait_for_profile(
        self, event_count: int = 1, *, timeout: float = 20.0, **identifier: str
    ) -> dict[str, Any]:
        """Poll until the profile holding ``identifier`` has at least ``event_count`` events."""
        deadline = time.monotonic() + timeout
        profile = None
        while time.monotonic() < deadline:
            profile = self.profile(**identifier)
            if profile is not None and profile["eventCount"] >= event_count:
                return profile
            time.sleep(POLL_SECONDS / 2)
        raise AssertionError(f"profile {identifier} not resolved within {timeout:g} s: {profile}")

    def profile_events(self, profile_id: str, limit: int | None = None) -> list[dict[str, Any]]:
        """``GET /api/profiles/{id}/events``: the events linked to the profile (the API's first
        page unless ``limit``)."""
        params = {} if limit is None else {"limit": str(limit)}
        response = self.http.get(f"/api/profiles/{profile_id}/events", params=params)
        response.raise_for_status()
        events: list[dict[str, Any]] = response.json()["events"]
        return events
