"""Names for the JSON values that travel through audience."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias

JSON: TypeAlias = Any
"""Any value JSON can hold: dict, list, str, int, float, bool or None."""

JSONObject: TypeAlias = dict[str, Any]
"""A JSON object, such as a whole message on the wire."""

Traits: TypeAlias = Mapping[str, Any]
"""What is known about a user or a group (``name``, ``email``, ``plan`` ...)."""

Properties: TypeAlias = Mapping[str, Any]
"""The details of one event (``revenue``, ``path`` ...)."""
