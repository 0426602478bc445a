"""``Visitors``: what a web middleware shares across requests — one SDK client (one delivery
pipeline, one worker) and the cookie settings — and how it makes each request's ``Visitor``."""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import timedelta
from typing import Literal, TypedDict

from audience.errors import ConfigError
from audience.sdk.client import DEFAULT_HOST, Analytics
from audience.sdk.cookies import ONE_YEAR, SameSite
from audience.sdk.worker import DeliveryPolicy, OnError
from audience.web.cookies import (
    REGISTRABLE_DOMAIN,
    CookieSettings,
    DomainChoice,
    read_identity_cookies,
    repeated_identity_cookies,
)
from audience.web.domains import load_suffix_list
from audience.web.visitor import Visitor


class MiddlewareOptions(TypedDict, total=False):
    """The keyword arguments of the web middlewares, as ``Visitors`` takes them."""

    write_key: str
    host: str
    analytics: Analytics
    storage: Literal["disk", "memory"]
    storage_dir: str | os.PathLike[str]
    delivery: DeliveryPolicy
    on_error: OnError
    domain: str | DomainChoice | None
    max_age: timedelta
    path: str
    same_site: SameSite
    secure: bool
    trust_forwarded_host: bool


class Visitors:
    """Makes the ``Visitor`` of each request over one shared ``Analytics``.

    Give ``write_key`` (and ``host``, and optionally ``storage``, ``storage_dir``, ``delivery``,
    ``on_error`` as for ``Analytics``) and the client is made here and shut down by ``close()``;
    or give an existing ``analytics`` client, which stays the caller's to shut down.
    ``trust_forwarded_host``: take the request host from ``X-Forwarded-Host`` when a proxy in
    front sets it (and rewrites ``Host``); only behind a proxy that always sets it.
    """

    def __init__(
        self,
        *,
        write_key: str | None = None,
        host: str = DEFAULT_HOST,
        analytics: Analytics | None = None,
        storage: Literal["disk", "memory"] = "disk",
        storage_dir: str | os.PathLike[str] | None = None,
        delivery: DeliveryPolicy | None = None,
        on_error: OnError | None = None,
        domain: str | DomainChoice | None = REGISTRABLE_DOMAIN,
        max_age: timedelta = ONE_YEAR,
        path: str = "/",
        same_site: SameSite = "Lax",
        secure: bool = False,
        trust_forwarded_host: bool = False,
    ) -> None:
        self.settings = CookieSettings(
            domain=domain, max_age=max_age, path=path, same_site=same_site, secure=secure
        )
        if domain is REGISTRABLE_DOMAIN:
            load_suffix_list()
        self.trust_forwarded_host = trust_forwarded_host
        self._owned = analytics is None
        if analytics is None:
            if write_key is None:
                raise ConfigError("give the middleware a write_key (and host) or an analytics")
            analytics = Analytics(
                write_key,
                host,
                storage=storage,
                storage_dir=storage_dir,
                delivery=delivery,
                on_error=on_error,
            )
        elif write_key is not None:
            raise ConfigError("give the middleware a write_key or an analytics, not both")
        self.analytics = analytics

    def for_request(
        self, cookie_headers: Iterable[str], host: str, forwarded_host: str | None = None
    ) -> Visitor:
        """The visitor of a request with these ``Cookie`` header values, sent to ``host``
        (``forwarded_host``: its ``X-Forwarded-Host`` header, if any)."""
        if self.trust_forwarded_host and forwarded_host:
            host = forwarded_host.split(",")[0].strip()
        headers = list(cookie_headers)
        return Visitor(
            self.analytics,
            read_identity_cookies(headers),
            host=host,
            settings=self.settings,
            repeated=repeated_identity_cookies(headers),
        )

    def close(self, timeout: float | None = None) -> None:
        """Deliver what is pending and stop the client, when it was made here."""
        if self._owned:
            self.analytics.shutdown(timeout)
