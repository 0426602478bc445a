"""Makes this interpreter look like one without POSIX's file locks and fork hooks.

Put this folder on ``PYTHONPATH``: ``import fcntl`` then fails and ``os.register_at_fork`` is
gone, as on Windows, so code that runs here runs where they do not exist.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
import types
from collections.abc import Sequence

_MISSING = frozenset({"fcntl"})


class _Missing(importlib.abc.MetaPathFinder):
    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname in _MISSING:
            raise ImportError(f"No module named {fullname!r}", name=fullname)
        return None


for name in _MISSING:
    sys.modules.pop(name, None)
sys.meta_path.insert(0, _Missing())
if hasattr(os, "register_at_fork"):
    del os.register_at_fork
