"""audience: a self-hostable customer data pipeline whose heart is audience identity."""

from __future__ import annotations

from importlib.metadata import version

__version__ = version("audience")

from audience.sdk import Analytics  # after __version__: the SDK reads it

__all__ = ["Analytics", "__version__"]
