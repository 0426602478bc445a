"""Resolution inside ``audience serve``: the resolver as a supervised child, the profile API and
the web pages."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute

from audience.collector.parts import CollectorParts
from audience.http.components import Child, Extensions
from audience.pages.views import WebPages
from audience.resolution.api import ProfileApi
from audience.resolution.backend import open_profile_store
from audience.resolution.store import ProfileStore
from audience.resolution.worker import resolver_child


class ProfileStoreComponent:
    """Closes the profile store the API and pages read when the application stops."""

    def __init__(self, store: ProfileStore) -> None:
        self._store = store

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        await run_in_threadpool(self._store.close)


def resolution_extensions(parts: CollectorParts) -> Extensions:
    """The resolver child, the profile API and the pages that ``audience serve`` adds.

    The resolver runs in a child process (its own core); its lag is the newest committed
    position minus the profile store's cursor.
    """
    store = open_profile_store(parts.settings)

    def lag(newest: int) -> int:
        return max(0, newest - store.cursor())

    routes: list[BaseRoute] = [
        *ProfileApi(store, parts.store, parts.guard).routes(),
        *WebPages(parts, store).routes(),
    ]
    return Extensions(
        routes=routes,
        components=[ProfileStoreComponent(store)],
        children=[Child(resolver_child(parts.settings), lag)],
    )
