"""What ``audience serve`` runs beside the collector: add routes, components and children here.

``server_extensions`` receives the collector's parts (store, admin guard, ingestor ...)
and returns the extra routes (admin API, pages), components (started and stopped with the
application) and supervised children (workers in processes of their own).
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from audience.collector.parts import CollectorParts
from audience.destinations.server import destination_extensions
from audience.http.components import Child, Component, Extensions
from audience.resolution.server import resolution_extensions


def server_extensions(parts: CollectorParts) -> Extensions:
    """The routes and components of ``audience serve`` beyond the collector itself."""
    routes: list[BaseRoute] = []
    components: list[Component] = []
    children: list[Child] = []
    for extensions in (destination_extensions(parts), resolution_extensions(parts)):
        routes.extend(extensions.routes)
        components.extend(extensions.components)
        children.extend(extensions.children)
    return Extensions(routes=routes, components=components, children=children)
