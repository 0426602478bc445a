"""What ``audience serve`` runs beside the collector: add routes and components here.

``server_extensions`` receives the collector's parts (store, admin guard, ingestor ...)
and returns the extra routes (admin API, pages) and background components (workers
started and stopped with the application).
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from audience.collector.parts import CollectorParts, Component, Extensions
from audience.destinations.server import destination_extensions
from audience.resolution.server import resolution_extensions


def server_extensions(parts: CollectorParts) -> Extensions:
    """The routes and components of ``audience serve`` beyond the collector itself."""
    routes: list[BaseRoute] = []
    components: list[Component] = []
    destinations = destination_extensions(parts)
    routes.extend(destinations.routes)
    components.extend(destinations.components)
    resolution = resolution_extensions(parts)
    routes.extend(resolution.routes)
    components.extend(resolution.components)
    return Extensions(routes=routes, components=components)
