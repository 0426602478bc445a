"""What ``audience serve`` adds to the collector, feature by feature, each given only what it
uses: the resolver and the profile API, the dispatcher and the destinations API, the pages, and
the regulations."""

from __future__ import annotations

from audience.clock import Clock, IdFactory, SystemClock, UuidFactory
from audience.collector.bundle import snippet
from audience.config import Settings
from audience.destinations.api import destinations_route
from audience.destinations.delivery_store import DeliveryStore
from audience.destinations.dispatcher_process import dispatcher_child
from audience.destinations.status import destination_lags, destination_statuses
from audience.eventlog import EventFeed
from audience.http.admin_guard import AdminGuard
from audience.http.components import Child, ClosedOnStop, Extensions
from audience.http.proxies import TrustedProxies
from audience.pages.destinations import destinations_page
from audience.pages.reading import DestinationReport, EventReader
from audience.pages.views import WebPages
from audience.privacy.api import RegulationApi
from audience.privacy.desk import PrivacyStore
from audience.privacy.parts import PrivacyParts, regulation_runner
from audience.resolution.api import ProfileApi
from audience.resolution.backend import open_profile_store
from audience.resolution.profile_store import ProfileStore
from audience.resolution.resolver_process import resolver_child


def resolution_extensions(
    settings: Settings, profiles: ProfileStore, events: EventFeed, guard: AdminGuard
) -> Extensions:
    """The resolver child and the profile API; ``profiles`` is closed when the app stops.

    The resolver runs in a child process (its own core); its lag is the newest committed
    position minus the profile store's cursor.
    """

    def lag(newest: int) -> int:
        return max(0, newest - profiles.cursor())

    return Extensions(
        routes=[*ProfileApi(profiles, events, guard).routes()],
        components=[ClosedOnStop(profiles.close)],
        children=[Child(resolver_child(settings), lag)],
    )


def destination_extensions(
    settings: Settings, deliveries: DeliveryStore, events: EventFeed, guard: AdminGuard
) -> Extensions:
    """The dispatcher child and ``GET /api/destinations``; ``deliveries`` is closed at the end."""
    return Extensions(
        routes=[destinations_route(deliveries, events, guard)],
        components=[ClosedOnStop(deliveries.close)],
        children=[
            Child(
                dispatcher_child(settings, open_profile_store),
                lambda newest: destination_lags(deliveries, newest),
            )
        ],
    )


def privacy_extensions(
    privacy: PrivacyParts,
    store: PrivacyStore,
    profiles: ProfileStore,
    deliveries: DeliveryStore | None,
    guard: AdminGuard,
    *,
    clock: Clock | None = None,
    ids: IdFactory | None = None,
) -> Extensions:
    """``/api/regulations``, the suppression list's poller and the regulation runner."""
    runner = regulation_runner(
        privacy,
        store,
        profiles,
        deliveries,
        clock=clock or SystemClock(),
        ids=ids or UuidFactory(),
    )
    return Extensions(
        routes=[*RegulationApi(privacy.desk, guard, runner.wake).routes()],
        components=[privacy.suppressions, runner],
    )


def page_extensions(
    settings: Settings,
    *,
    events: EventReader,
    profiles: ProfileStore,
    guard: AdminGuard,
    proxies: TrustedProxies,
    deliveries: DeliveryStore | None = None,
) -> Extensions:
    """The operator's pages over the stores; ``/destinations`` only when ``deliveries`` is given."""
    pages = WebPages(
        guard=guard,
        events=events,
        profiles=profiles,
        snippet=snippet,
        proxies=proxies,
        public_url=settings.public_url,
        actions=profiles,
    )
    extensions = Extensions(routes=[*pages.routes()])
    if deliveries is None:
        return extensions
    state = deliveries

    def reports() -> list[DestinationReport]:
        return list(destination_statuses(state, events))

    return extensions + Extensions(routes=[destinations_page(reports, guard)])
