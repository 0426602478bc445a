"""Resolution inside ``audience serve``: the resolver as a background component, the profile API
and the web pages."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute

from audience.collector.parts import CollectorParts, Extensions
from audience.resolution.api import ProfileApi
from audience.resolution.resolver import Resolver
from audience.resolution.sqlite import SQLiteProfileStore
from audience.resolution.store import ProfileStore
from audience.web.pages import WebPages


class ResolverComponent:
    """Runs the resolver beside the collector; each commit of the event store wakes it."""

    def __init__(self, resolver: Resolver, store: ProfileStore) -> None:
        self.resolver = resolver
        self._store = store

    async def start(self) -> None:
        self.resolver.start()

    async def stop(self) -> None:
        await run_in_threadpool(self.resolver.stop)
        await run_in_threadpool(self._store.close)


def resolution_extensions(parts: CollectorParts) -> Extensions:
    """The resolver component, the profile API and the pages that ``audience serve`` adds."""
    store = SQLiteProfileStore.in_directory(parts.settings.data_dir)
    resolver = Resolver(parts.store, store)
    parts.store.add_commit_listener(resolver.notify)
    routes: list[BaseRoute] = [
        *ProfileApi(store, parts.store, parts.guard).routes(),
        *WebPages(parts, store).routes(),
    ]
    return Extensions(routes=routes, components=[ResolverComponent(resolver, store)])
