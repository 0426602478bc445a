"""The collector application: ``build_parts`` makes its parts, ``create_app`` composes it.

``build_parts`` makes the collector's parts over an open store, and ``create_app`` turns
parts and extensions (routes, components, supervised children) into a Starlette application;
``prepare_data`` makes sure a first source and an admin token exist. ``audience serve``
composes it with the other features in :mod:`audience.serving`.

The application's lifespan runs the supervised children (:mod:`audience.supervision`) and
stops everything in the order and within the limits of :mod:`audience.http.shutdown`;
``/readyz`` reports on them (:mod:`audience.http.readiness`).
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from audience import __version__, shared_metrics
from audience.clock import Clock, IdFactory, SystemClock, UuidFactory
from audience.collector.admin_api import AdminApi
from audience.collector.bundle import BrowserBundle
from audience.collector.context_details import ContextDetails
from audience.collector.cors import CorsMiddleware
from audience.collector.geolocation import MaxMindGeolocator
from audience.collector.ingest import IngestGate, Ingestor, Limits
from audience.collector.metrics import Metrics, MetricsMiddleware
from audience.collector.openapi import openapi_document
from audience.collector.parts import CollectorParts
from audience.collector.settings_endpoint import SEGMENT_PREFIX, SettingsEndpoint
from audience.collector.tracking_api import TrackingApi
from audience.collector.tracking_front import TrackingFront
from audience.collector.write_keys import SourceResolver
from audience.config import Settings
from audience.errors import StorageError
from audience.http.admin_guard import AdminGuard, Endpoint, LoginPage
from audience.http.admin_sessions import AdminSessions
from audience.http.admin_token import (
    AdminTokenSource,
    FixedAdminToken,
    StoredAdminToken,
    settle_admin_token,
)
from audience.http.components import Child, Component
from audience.http.login_throttle import LoginThrottle
from audience.http.proxies import TrustedProxies
from audience.http.readiness import LagSample, LagSampler, assess
from audience.http.replies import JSONReply, error_reply
from audience.http.request_ids import ProcessRequestIds, RequestIds
from audience.http.security_headers import SecurityHeaders
from audience.http.shutdown import (
    STORE_CLOSE_SECONDS,
    close_within,
    restarts_held_on_stop_signals,
)
from audience.log.health import LogHealth
from audience.storage.backend import EventStore
from audience.storage.base import EventSink, Source
from audience.supervision import Supervisor

logger = logging.getLogger(__name__)

DEFAULT_SOURCE = "default"


@dataclass(frozen=True)
class FirstStart:
    """What an operator needs to start sending: the first source and the admin token.

    ``token_generated`` is true only on the start that generated the kept token: that is
    the one start that prints it.
    """

    source: Source
    admin_token: str
    token_from_environment: bool
    token_generated: bool = False

    def token_source(self, store: EventStore, clock: Clock | None = None) -> AdminTokenSource:
        """Where the guard reads the token: fixed from the environment, else from the store."""
        if self.token_from_environment:
            return FixedAdminToken(self.admin_token)
        return StoredAdminToken(store, clock or SystemClock(), self.admin_token)


def prepare_data(store: EventStore, settings: Settings) -> FirstStart:
    """Create the ``default`` source when there is none, and settle the admin token.

    The token is ``settings.admin_token`` when set, else one generated on the first
    start and kept in the store, so it stays the same across restarts.
    """
    sources = store.list_sources()
    source = sources[0] if sources else store.create_source(DEFAULT_SOURCE)
    if settings.admin_token:
        return FirstStart(source, settings.admin_token, token_from_environment=True)
    token, generated = settle_admin_token(store)
    return FirstStart(source, token, token_from_environment=False, token_generated=generated)


def context_details(settings: Settings) -> ContextDetails | None:
    """The context details ``settings`` turn on, or ``None`` when none is."""
    user_agents = settings.parse_user_agents or settings.drop_bots
    if not user_agents and settings.geoip_db is None:
        return None
    geolocator = MaxMindGeolocator(settings.geoip_db) if settings.geoip_db else None
    return ContextDetails(user_agents=user_agents, geolocator=geolocator)


def build_parts(
    settings: Settings,
    store: EventStore,
    *,
    admin_token: str | AdminTokenSource,
    login_page: LoginPage,
    clock: Clock | None = None,
    ids: IdFactory | None = None,
    gate: IngestGate | None = None,
    sink: EventSink | None = None,
) -> CollectorParts:
    """The collector's parts over an open ``store``; a ``str`` admin token never changes.

    ``login_page`` draws the admin guard's login form; ``gate`` screens valid messages before
    they are stored (privacy's suppression list); ``sink`` is where accepted events go when
    it is not the store itself (the replicated log).
    """
    clock = clock or SystemClock()
    ids = ids or UuidFactory()
    metrics = Metrics()
    proxies = TrustedProxies(settings.trusted_proxies)
    token = FixedAdminToken(admin_token) if isinstance(admin_token, str) else admin_token
    guard = AdminGuard(
        token,
        AdminSessions(store, clock),
        LoginThrottle(clock),
        proxies,
        login_page,
        public_url=settings.public_url,
    )
    ingestor = Ingestor(
        store if sink is None else sink,
        clock=clock,
        ids=ids,
        limits=Limits(settings.max_event_bytes, settings.max_batch_events),
        observer=metrics,
        details=context_details(settings),
        drop_bots=settings.drop_bots,
        gate=gate,
    )
    return CollectorParts(
        settings=settings,
        store=store,
        ingestor=ingestor,
        sources=SourceResolver(store),
        guard=guard,
        metrics=metrics,
        clock=clock,
        ids=ids,
        proxies=proxies,
    )


def create_app(
    parts: CollectorParts,
    *,
    routes: Sequence[BaseRoute] = (),
    components: Sequence[Component] = (),
    children: Sequence[Child] = (),
    close_store: bool = False,
    log: Callable[[], LogHealth] | None = None,
    tracking: bool = True,
) -> Starlette:
    """The collector's ASGI application, with extra ``routes``, ``components`` and ``children``.

    Components start in order when the application starts, then the supervised children;
    when it stops the children stop first (asked, then killed after the grace), then the
    components in reverse order; with ``close_store`` the store is closed last (its queued
    events are committed first, for at most ``STORE_CLOSE_SECONDS``). ``log`` reads the
    replicated log's health for ``/readyz`` and ``/metrics``; without ``tracking`` the
    tracking API is not served (a process that only writes the log to the store).
    """
    settings = parts.settings
    supervisor = Supervisor([child.spec for child in children], clock=parts.clock)
    for doorbell in supervisor.doorbells():
        parts.store.add_commit_listener(doorbell.ring)
    parts.store.add_commit_timer(parts.metrics.commit_done)

    def publish(sample: LagSample) -> None:
        parts.metrics.publish_state(
            parts.store.writer_health(),
            supervisor.statuses(),
            sample,
            None if log is None else log(),
        )

    sampler = LagSampler(
        parts.store,
        {child.spec.name: child.lag for child in children},
        parts.clock,
        on_sample=publish,
    )
    tracking_api = TrackingApi(
        parts.ingestor,
        parts.sources,
        max_request_bytes=settings.max_request_bytes,
        proxies=parts.proxies,
    )
    all_routes: list[BaseRoute] = [
        *SettingsEndpoint(parts.sources, settings.public_url, parts.proxies).routes(),
        *AdminApi(parts.store, parts.store, parts.guard, parts.metrics).routes(),
        *parts.guard.routes(),
        Route("/healthz", _healthz(parts.store), methods=["GET"]),
        Route("/readyz", _readyz(parts, supervisor, sampler, log), methods=["GET"]),
        Route("/metrics", _metrics(parts, supervisor, sampler, log), methods=["GET"]),
        Route("/openapi.json", _openapi, methods=["GET"]),
    ]
    if settings.browser_bundle:
        all_routes.extend(BrowserBundle(settings.browser_bundle, parts.sources).routes())
    all_routes.extend(routes)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        started: list[Component] = []
        try:
            for component in components:
                await component.start()
                started.append(component)
            supervisor.start()
            sampler.start()
            with restarts_held_on_stop_signals(supervisor):
                yield
        finally:
            supervisor.hold()
            sampler.stop()
            await run_in_threadpool(supervisor.stop)
            for component in reversed(started):
                try:
                    await component.stop()
                except Exception:
                    logger.exception("stopping %r failed", component)
            if close_store:
                await close_within(parts.store.close, STORE_CLOSE_SECONDS, "the event store")
            shared_metrics.process_gone(os.getpid())  # a worker's live gauges end with it

    request_ids = ProcessRequestIds()

    def front(app: ASGIApp) -> ASGIApp:
        if not tracking:
            return app
        return TrackingFront(app, tracking_api, parts.metrics, request_ids)

    return CollectorApp(
        front,
        routes=all_routes,
        middleware=[
            Middleware(RequestIds, ids=request_ids),
            Middleware(MetricsMiddleware, metrics=parts.metrics),
            Middleware(CorsMiddleware, prefixes=("/v1/", SEGMENT_PREFIX + "/v1/")),
            # Every reply of the router gets them; the tracking routes are answered in front.
            Middleware(SecurityHeaders),
        ],
        lifespan=lifespan,
        exception_handlers={StorageError: _storage_unavailable},
    )


class CollectorApp(Starlette):
    """The collector's Starlette application, with ``front`` put before all of its middleware.

    ``front`` wraps the rest of the stack: the tracking routes (``TrackingFront``) are
    answered there, every other request goes through the middleware and the router.
    """

    def __init__(self, front: Callable[[ASGIApp], ASGIApp], **options: Any) -> None:
        self._front = front
        super().__init__(**options)

    def build_middleware_stack(self) -> ASGIApp:
        return self._front(super().build_middleware_stack())


def _healthz(store: EventStore) -> Endpoint:
    async def healthz(request: Request) -> Response:
        last_seq = await run_in_threadpool(store.last_seq)
        return JSONReply({"status": "ok", "version": __version__, "lastSeq": last_seq})

    return healthz


def _readyz(
    parts: CollectorParts,
    supervisor: Supervisor,
    sampler: LagSampler,
    log: Callable[[], LogHealth] | None,
) -> Endpoint:
    """``GET /readyz``: 200 when ready, 503 when not; no token needed, and no secrets in it."""

    async def readyz(request: Request) -> Response:
        readiness = assess(
            parts.store.writer_health(),
            supervisor.statuses(),
            sampler.latest,
            stopping=supervisor.stopping,
            child_down_limit=parts.settings.child_down_limit,
            now=parts.clock.monotonic(),
            log=None if log is None else log(),
        )
        return JSONReply(
            readiness.body, readiness.status_code, headers={"Cache-Control": "no-store"}
        )

    return readyz


def _metrics(
    parts: CollectorParts,
    supervisor: Supervisor,
    sampler: LagSampler,
    log: Callable[[], LogHealth] | None,
) -> Endpoint:
    """``GET /metrics``: the Prometheus text; with ``metrics_token`` set, only for its bearer."""
    token = parts.settings.metrics_token

    async def render(request: Request) -> Response:
        if token is not None and not _bears(request, token):
            return error_reply(
                401,
                "unauthorized",
                "/metrics needs Authorization: Bearer <AUDIENCE_METRICS_TOKEN>",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        parts.metrics.publish_state(
            parts.store.writer_health(),
            supervisor.statuses(),
            sampler.latest,
            None if log is None else log(),
        )
        text = await run_in_threadpool(parts.metrics.render)
        return PlainTextResponse(
            text, media_type="text/plain; version=0.0.4", headers={"Cache-Control": "no-store"}
        )

    return render


def _bears(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


async def _storage_unavailable(request: Request, exc: Exception) -> Response:
    logger.error("%s %s: %s", request.method, request.url.path, exc)
    return error_reply(
        503, "unavailable", "the event store cannot be used", headers={"Retry-After": "1"}
    )


async def _openapi(request: Request) -> Response:
    return JSONReply(openapi_document(request.app.routes))
