"""Flattening: nested JSON objects become snake_case warehouse columns with inferred types.

The rules follow the warehouse layouts analysts already query (Segment, RudderStack):

- names are snake_case (``emailCampaign`` -> ``email_campaign``, ``Plan ID`` -> ``plan_id``),
  only ``[a-z0-9_]``, a leading digit gets a ``_``, and at most 63 characters (PostgreSQL's limit);
- nested objects flatten with ``_`` (``context.app.version`` -> ``context_app_version``);
- arrays are stored as JSON text;
- a name that is already taken (a reserved column such as ``user_id``, or two keys that
  flatten to the same name) gets a ``_`` prefix until it is free, so no value is dropped;
- a column's type is set by the first value seen: boolean, integer, float, timestamp or string.
"""

from __future__ import annotations

import enum
import functools
import itertools
import json
import re
import typing
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Final

import orjson

from audience.errors import ValidationError
from audience.jsontypes import JSON
from audience.tracking import parse_timestamp

MAX_NAME_LENGTH: Final = 63
"""PostgreSQL truncates identifiers past 63 bytes; names are cut here so both agree."""

_WORD_BOUNDARY = re.compile(r"([a-z0-9])([A-Z])|([A-Z])([A-Z][a-z])")
_NOT_NAME = re.compile(r"[^a-z0-9]+")
_TIMESTAMP = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}(:?\d{2})?)?$"
)
_INT64 = range(-(2**63), 2**63)


class ColumnType(enum.Enum):
    """The types a warehouse column can have, from the first value seen in it."""

    BOOLEAN = "boolean"
    INTEGER = "integer"
    FLOAT = "float"
    TIMESTAMP = "timestamp"
    STRING = "string"


class Discard:
    """Marks a value that cannot be stored in the column's type (kept in the discards table)."""

    _instance: Discard | None = None

    def __new__(cls) -> Discard:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "DISCARD"


DISCARD: Final = Discard()
"""The one ``Discard`` value."""

Scalar = str | int | float | bool | datetime | None
"""A value as it goes into one warehouse cell."""


@functools.lru_cache(maxsize=65_536)
def column_name(key: str) -> str:
    """The snake_case column (or table) name for a JSON key or an event name."""
    spaced = _WORD_BOUNDARY.sub(_split_words, key)
    name = _NOT_NAME.sub("_", spaced.lower()).strip("_")
    if not name:
        name = "_"
    if name[0].isdigit():
        name = "_" + name
    return name[:MAX_NAME_LENGTH]


def _split_words(match: re.Match[str]) -> str:
    if match.group(1) is not None:
        return f"{match.group(1)}_{match.group(2)}"
    return f"{match.group(3)}_{match.group(4)}"


def free_name(name: str, taken: Collection[str]) -> str:
    """``name``, or ``name`` behind as many ``_`` as it takes not to collide with ``taken``.

    A name already 63 characters long gets a number (``_2``, ``_3`` ...) instead.
    """
    candidate = name
    while candidate in taken and len(candidate) < MAX_NAME_LENGTH:
        candidate = "_" + candidate
    if candidate not in taken:
        return candidate
    for number in itertools.count(2):
        suffix = f"_{number}"
        candidate = name[: MAX_NAME_LENGTH - len(suffix)] + suffix
        if candidate not in taken:
            break
    return candidate


def flatten(
    values: Mapping[str, JSON], prefix: str = "", taken: Collection[str] = ()
) -> dict[str, JSON]:
    """Flatten ``values`` into ``{column: scalar}``; ``None`` values are left out.

    ``prefix`` (such as ``context``) is joined to every name with ``_``. Names in ``taken``
    and names produced earlier in the same call are never reused: a later colliding key
    gets a ``_`` prefix instead.
    """
    columns: dict[str, JSON] = {}
    _flatten_into(columns, taken, values, column_name(prefix) if prefix else "")
    return columns


def _flatten_into(
    columns: dict[str, JSON], taken: Collection[str], values: Mapping[str, JSON], prefix: str
) -> None:
    # The names in use are always ``taken`` and the keys of ``columns``; their union is made
    # only when a name collides, which is rare.
    for key, value in values.items():
        if value is None:
            continue
        full = _joined_name(prefix, key if isinstance(key, str) else str(key))
        if isinstance(value, dict):
            _flatten_into(columns, taken, value, full)
            continue
        if full in columns or full in taken:
            full = free_name(full, {*taken, *columns})
        columns[full] = _cell(value) if isinstance(value, list) else value


@functools.lru_cache(maxsize=65_536)
def _joined_name(prefix: str, key: str) -> str:
    """The column of ``key`` under ``prefix`` (already a column name, or empty)."""
    name = column_name(key)
    return f"{prefix}_{name}"[:MAX_NAME_LENGTH] if prefix else name


_PLAIN_ITEMS: Final = frozenset({str, int, bool, type(None)})
"""Array items ``orjson`` writes exactly as ``json.dumps`` does (it writes floats its own way)."""


def _cell(value: list[JSON]) -> str:
    if set(map(type, value)) <= _PLAIN_ITEMS:
        try:
            return orjson.dumps(value).decode()
        except orjson.JSONEncodeError:
            pass  # an integer past 64 bits, or a lone surrogate: json.dumps writes those
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def infer_type(value: JSON) -> ColumnType:
    """The column type a first value gives its column."""
    if isinstance(value, bool):
        return ColumnType.BOOLEAN
    if isinstance(value, int):
        return ColumnType.INTEGER if value in _INT64 else ColumnType.STRING
    if isinstance(value, float):
        return ColumnType.FLOAT
    if isinstance(value, datetime) or (isinstance(value, str) and _TIMESTAMP.match(value)):
        return ColumnType.TIMESTAMP
    return ColumnType.STRING


def cast(value: JSON, column_type: ColumnType) -> Scalar | Discard:
    """``value`` converted for a column of ``column_type``, or ``DISCARD`` when it cannot be.

    Any value fits a string column; numbers fit numeric columns when nothing is lost;
    timestamps must parse as ISO 8601.
    """
    return caster(column_type)(value)


Caster = Callable[[JSON], "Scalar | Discard"]
"""Converts one value for a column of one type (see ``cast``)."""


def caster(column_type: ColumnType) -> Caster:
    """The function ``cast`` applies for ``column_type``, to look up once per column."""
    return _CASTERS[column_type]


def cast_column(values: Sequence[JSON], column_type: ColumnType) -> Sequence[Scalar | Discard]:
    """``cast`` of each of ``values``, one column's cells, in order.

    A column whose values all have the column's own Python type already (or are ``None``) is
    returned as it is: most columns of a batch are, and that spares a call per cell.
    """
    kinds = set(map(type, values))
    if kinds <= _AS_THEY_ARE[column_type] and (
        column_type is not ColumnType.INTEGER or _fit_int64(values, kinds)
    ):
        return typing.cast("Sequence[Scalar]", values)
    return list(map(_CASTERS[column_type], values))


def _fit_int64(values: Sequence[JSON], kinds: set[type]) -> bool:
    # Only called when every value is an int or None.
    numbers = typing.cast("list[int]", [value for value in values if value is not None])
    return not numbers or (min(numbers) >= _INT64.start and max(numbers) < _INT64.stop)


def _as_boolean(value: JSON) -> bool | Discard | None:
    if value is None or isinstance(value, bool):
        return value
    return DISCARD


def _as_float(value: JSON) -> float | Discard | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return DISCARD


def _as_text(value: JSON) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def _as_integer(value: JSON) -> int | Discard | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return DISCARD
    if isinstance(value, int) and value in _INT64:
        return value
    if isinstance(value, float) and value.is_integer() and int(value) in _INT64:
        return int(value)
    return DISCARD


def _as_timestamp(value: JSON) -> datetime | Discard | None:
    if value is None or isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        return DISCARD
    return _parse_timestamp(value)


@functools.lru_cache(maxsize=4096)
def _parse_timestamp(text: str) -> datetime | Discard:
    # Cached: one event's timestamps land in two rows, and a batch repeats them often.
    if not _TIMESTAMP.match(text):
        return DISCARD
    try:
        return parse_timestamp(text)
    except ValidationError:
        return DISCARD


_AS_THEY_ARE: Final[Mapping[ColumnType, frozenset[type]]] = {
    ColumnType.STRING: frozenset({str, type(None)}),
    ColumnType.BOOLEAN: frozenset({bool, type(None)}),
    ColumnType.INTEGER: frozenset({int, type(None)}),
    ColumnType.FLOAT: frozenset({float, type(None)}),
    ColumnType.TIMESTAMP: frozenset({datetime, type(None)}),
}
"""The Python types each column type stores without conversion (``bool`` is not ``int`` here)."""

_CASTERS: Final[dict[ColumnType, Caster]] = {
    ColumnType.STRING: _as_text,
    ColumnType.BOOLEAN: _as_boolean,
    ColumnType.INTEGER: _as_integer,
    ColumnType.FLOAT: _as_float,
    ColumnType.TIMESTAMP: _as_timestamp,
}
