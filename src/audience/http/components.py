"""What an application is built from beside its routes: components started and stopped with it,
and workers run as supervised children, each with the probe of how far behind it is."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute

from audience.jsontypes import JSON
from audience.supervision import ChildSpec


class Component(Protocol):
    """Something started and stopped with the application in its own process (e.g. a store
    the routes read, closed at the end)."""

    async def start(self) -> None:
        """Begin working; called once when the application starts."""
        ...

    async def stop(self) -> None:
        """Finish and release resources; called once when the application stops."""
        ...


class ClosedOnStop:
    """A component that only closes something (a store the routes read) when the application
    stops; the closing runs on a worker thread, as it may wait on I/O."""

    def __init__(self, close: Callable[[], None]) -> None:
        self._close = close

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        await run_in_threadpool(self._close)


LagProbe = Callable[[int], JSON]
"""How far a child is behind the newest committed ``seq`` it is given, read from its cursor
(an events count, or one per destination); run on a background thread of the collector."""


@dataclass(frozen=True)
class Child:
    """A worker run beside the collector as a supervised child process, woken by every commit.

    ``lag`` reads its committed cursor from the collector's side, so it keeps answering while
    the child is stopped or dead.
    """

    spec: ChildSpec
    lag: LagProbe


@dataclass(frozen=True)
class Extensions:
    """Routes, components and supervised children added to the collector's application."""

    routes: list[BaseRoute] = field(default_factory=list)
    components: list[Component] = field(default_factory=list)
    children: list[Child] = field(default_factory=list)

    def __add__(self, other: Extensions) -> Extensions:
        return Extensions(
            routes=[*self.routes, *other.routes],
            components=[*self.components, *other.components],
            children=[*self.children, *other.children],
        )
