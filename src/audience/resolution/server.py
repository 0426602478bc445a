"""Resolution inside ``audience serve``: the resolver as a background component, the profile API
and the web pages."""

from __future__ import annotations

from typing import Protocol

from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute

from audience.collector.parts import CollectorParts, Extensions
from audience.pages.views import WebPages
from audience.resolution.api import ProfileApi
from audience.resolution.backend import open_profile_store
from audience.resolution.resolver import Resolver
from audience.resolution.sqlite import FILENAME
from audience.resolution.store import ProfileStore
from audience.resolution.worker import ResolverProcess


class Follower(Protocol):
    """Something that follows the event log: a :class:`Resolver` thread or a child process."""

    def start(self) -> None:
        """Begin following."""
        ...

    def stop(self) -> None:
        """Finish the batch in hand and stop."""
        ...

    def notify(self, last_seq: int = 0) -> None:
        """New events were committed."""
        ...


class ResolverComponent:
    """Runs the resolver beside the collector; each commit of the event store wakes it."""

    def __init__(self, follower: Follower, store: ProfileStore) -> None:
        self.follower = follower
        self._store = store

    async def start(self) -> None:
        self.follower.start()

    async def stop(self) -> None:
        await run_in_threadpool(self.follower.stop)
        await run_in_threadpool(self._store.close)


def resolution_extensions(parts: CollectorParts, *, in_process: bool = False) -> Extensions:
    """The resolver component, the profile API and the pages that ``audience serve`` adds.

    The resolver runs in a child process (its own core) unless ``in_process`` asks for a thread.
    """
    store = open_profile_store(parts.settings)
    follower: Follower
    if in_process:
        follower = Resolver(parts.store, store)
    else:
        follower = ResolverProcess(
            parts.settings.database_path,
            parts.settings.data_dir / FILENAME,
            database_url=parts.settings.database_url,
        )
    parts.store.add_commit_listener(follower.notify)
    routes: list[BaseRoute] = [
        *ProfileApi(store, parts.store, parts.guard).routes(),
        *WebPages(parts, store).routes(),
    ]
    return Extensions(routes=routes, components=[ResolverComponent(follower, store)])
