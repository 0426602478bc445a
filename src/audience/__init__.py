"""audience: a self-hostable customer data pipeline whose heart is audience identity."""

from __future__ import annotations

from importlib.metadata import version

from audience.sdk import Analytics

__version__ = version("audience")

__all__ = ["Analytics", "__version__"]
