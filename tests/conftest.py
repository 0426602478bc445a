"""Fixtures shared by every test folder."""

from __future__ import annotations

# A real `audience serve`, a static site on another origin, Chromium and the admin API client.
pytest_plugins = ["interop.fixtures"]
