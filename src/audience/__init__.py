"""audience: a self-hostable customer data pipeline whose heart is audience identity."""

from __future__ import annotations

from importlib.metadata import version
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from audience.sdk import Analytics

__version__ = version("audience")


def __getattr__(name: str) -> object:
    # The SDK (and httpx) load on first use, so `audience --help` and the server stay quick.
    if name == "Analytics":
        from audience.sdk import Analytics

        return Analytics
    raise AttributeError(f"module 'audience' has no attribute {name!r}")


__all__ = ["Analytics", "__version__"]
