"""audience: a self-hostable customer data pipeline whose heart is audience identity."""

from __future__ import annotations

from importlib.metadata import version

__version__ = version("audience")

__all__ = ["__version__"]
