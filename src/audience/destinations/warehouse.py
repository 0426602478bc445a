"""Warehouse layout: which tables and rows a batch of events becomes, and which columns appear.

This module is pure: it turns stored events and the columns a schema already has into a
``LoadPlan`` (tables to create, columns to add, rows to insert or upsert, values to discard).
The loaders run the plan against PostgreSQL or DuckDB.

The layout is the one analysts know from Segment and RudderStack, one schema per source:

- ``tracks``: every track with the shared columns and ``context_*``, without properties;
- one table per event name (``order_completed``) with the shared columns, ``context_*`` and the
  properties as columns;
- ``identifies``, ``pages``, ``screens``, ``groups``, ``aliases``: one row per call, traits or
  properties as columns;
- ``users``: one row per user id (``id``), upserted from identifies: the values of the latest
  identify by event timestamp win, and traits it does not carry keep their values;
- ``discards``: values that could not be cast to their column's type, so none is lost.

``context.traits`` lands as ``context_traits_*`` columns: the seed says it "does appear in
warehouses and storage destinations".
"""

from __future__ import annotations

import functools
import operator
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from audience.destinations.flatten import (
    DISCARD,
    ColumnType,
    Scalar,
    cast,
    cast_column,
    column_name,
    flatten,
    free_name,
    infer_type,
)
from audience.eventlog import StoredEvent
from audience.jsontypes import JSON, JSONObject

S = ColumnType.STRING
T = ColumnType.TIMESTAMP

SHARED_COLUMNS: Final[Mapping[str, ColumnType]] = {
    "id": S,
    "anonymous_id": S,
    "user_id": S,
    "received_at": T,
    "sent_at": T,
    "timestamp": T,
    "original_timestamp": T,
    "uuid_ts": T,
}
"""Columns every event table has; ``id`` is the messageId, ``uuid_ts`` the load time."""

TABLE_FOR_TYPE: Final[Mapping[str, str]] = {
    "track": "tracks",
    "identify": "identifies",
    "page": "pages",
    "screen": "screens",
    "group": "groups",
    "alias": "aliases",
}

FIXED_COLUMNS: Final[Mapping[str, Mapping[str, ColumnType]]] = {
    "tracks": {**SHARED_COLUMNS, "event": S, "event_text": S},
    "identifies": SHARED_COLUMNS,
    "pages": {**SHARED_COLUMNS, "name": S, "category": S},
    "screens": {**SHARED_COLUMNS, "name": S, "category": S},
    "groups": {**SHARED_COLUMNS, "group_id": S},
    "aliases": {**SHARED_COLUMNS, "previous_id": S},
    "users": {"id": S, "received_at": T, "timestamp": T, "uuid_ts": T},
    "discards": {
        "id": S,
        "table_name": S,
        "column_name": S,
        "column_value": S,
        "received_at": T,
        "uuid_ts": T,
    },
}
"""The columns each table is created with, before any property, trait or context column."""

EVENT_TABLE_COLUMNS: Final[Mapping[str, ColumnType]] = FIXED_COLUMNS["tracks"]

RESERVED_TABLES: Final = frozenset(FIXED_COLUMNS)
"""Table names an event name can never take: ``Users`` goes to ``_users``."""

UPSERTED_TABLES: Final = frozenset({"users"})
DISCARDS_TABLE: Final = "discards"


@dataclass(frozen=True)
class Row:
    """One row for one table, before casting: values keyed by column name."""

    table: str
    values: Mapping[str, JSON]


@dataclass(frozen=True)
class TableLoad:
    """Rows for one table, cast and aligned to ``columns``.

    ``upsert`` rows replace the stored row with the same ``id`` by the merge rule of
    ``users``; other rows are inserted unless a row with the same ``id`` exists, so
    loading a batch twice stores it once.
    """

    table: str
    columns: tuple[str, ...]
    types: tuple[ColumnType, ...]
    rows: tuple[tuple[Scalar, ...], ...]
    upsert: bool = False


@dataclass(frozen=True)
class LoadPlan:
    """Everything one batch changes in one schema, in the order it must happen."""

    schema: str
    new_tables: Mapping[str, Mapping[str, ColumnType]] = field(default_factory=dict)
    new_columns: Mapping[str, Mapping[str, ColumnType]] = field(default_factory=dict)
    loads: tuple[TableLoad, ...] = ()

    @property
    def row_count(self) -> int:
        """How many rows the plan writes, discards included."""
        return sum(len(load.rows) for load in self.loads)


def schema_name(source: str) -> str:
    """The schema a source's tables live in: its name in snake_case."""
    return column_name(source)


@functools.lru_cache(maxsize=4096)
def event_table(event: str) -> str:
    """The table of one track event name (``Order Completed`` -> ``order_completed``)."""
    return free_name(column_name(event), RESERVED_TABLES)


def rows_for(event: StoredEvent, loaded_at: datetime) -> list[Row]:
    """The rows one stored event becomes; an unknown type becomes none."""
    message = event.message
    kind = message.get("type")
    table = TABLE_FOR_TYPE.get(kind) if isinstance(kind, str) else None
    if table is None:
        return []
    shared = _shared_values(event, loaded_at)
    context = flatten(_object(message.get("context")), "context", taken=FIXED_COLUMNS[table])
    if kind == "track":
        return _track_rows(message, shared, context)
    if kind == "identify":
        return _identify_rows(message, shared, context)
    fixed = dict(shared)
    payload: Mapping[str, JSON] = {}
    if kind in ("page", "screen"):
        payload = _object(message.get("properties"))
        fixed["name"] = message.get("name") or payload.get("name")
        fixed["category"] = message.get("category")
    elif kind == "group":
        payload = _object(message.get("traits"))
        fixed["group_id"] = message.get("groupId")
    else:
        fixed["previous_id"] = message.get("previousId")
    values = {**fixed, **context}  # its names are the table's fixed columns and the context's
    values.update(flatten(payload, taken=values))
    return [Row(table, values)]


def _shared_values(event: StoredEvent, loaded_at: datetime) -> dict[str, JSON]:
    message = event.message
    return {
        "id": message.get("messageId") or f"seq-{event.seq}",
        "anonymous_id": message.get("anonymousId"),
        "user_id": message.get("userId"),
        "received_at": message.get("receivedAt"),
        "sent_at": message.get("sentAt"),
        "timestamp": message.get("timestamp"),
        "original_timestamp": message.get("originalTimestamp"),
        "uuid_ts": loaded_at,
    }


def _track_rows(
    message: JSONObject, shared: Mapping[str, JSON], context: Mapping[str, JSON]
) -> list[Row]:
    name = str(message.get("event") or "")
    table = event_table(name)
    # The names of ``tracked`` are the event table columns and the context's.
    tracked = {**shared, "event": table, "event_text": name, **context}
    properties = flatten(_object(message.get("properties")), taken=tracked)
    return [Row("tracks", tracked), Row(table, {**tracked, **properties})]


def _identify_rows(
    message: JSONObject, shared: Mapping[str, JSON], context: Mapping[str, JSON]
) -> list[Row]:
    traits = _object(message.get("traits"))
    identified = {**shared, **context}  # its names are the fixed columns and the context's
    identified.update(flatten(traits, taken=identified))
    rows = [Row("identifies", identified)]
    user_id = message.get("userId")
    if user_id not in (None, ""):
        user = {
            "id": user_id,
            "received_at": shared["received_at"],
            "timestamp": shared["timestamp"],
            "uuid_ts": shared["uuid_ts"],
        }
        rows.append(Row("users", {**user, **flatten(traits, taken=FIXED_COLUMNS["users"])}))
    return rows


def _object(value: JSON) -> Mapping[str, JSON]:
    return value if isinstance(value, Mapping) else {}


def plan_load(
    schema: str,
    events: Iterable[StoredEvent],
    existing: Mapping[str, Mapping[str, ColumnType]],
    loaded_at: datetime,
) -> LoadPlan:
    """The plan that loads ``events`` into ``schema``, whose tables have ``existing`` columns.

    New tables start with their fixed columns; a column that no table has yet takes the type
    of the first value seen in it. Values that do not fit their column's type are stored as
    NULL in their row and kept, as text, in ``discards``.
    """
    rows_by_table: dict[str, list[Row]] = {}
    for event in events:
        for row in rows_for(event, loaded_at):
            rows_by_table.setdefault(row.table, []).append(row)
    if "users" in rows_by_table:
        rows_by_table["users"] = merge_user_rows(rows_by_table["users"])
    return plan_rows(schema, rows_by_table, existing, FIXED_COLUMNS)


def plan_rows(
    schema: str,
    rows_by_table: Mapping[str, Sequence[Row]],
    existing: Mapping[str, Mapping[str, ColumnType]],
    fixed: Mapping[str, Mapping[str, ColumnType]],
) -> LoadPlan:
    """The plan that writes ``rows_by_table`` into ``schema``: tables made with their ``fixed``
    columns (an event table's when a table has none), columns added, values cast, and the values
    that do not fit kept in ``discards``."""
    new_tables: dict[str, dict[str, ColumnType]] = {}
    new_columns: dict[str, dict[str, ColumnType]] = {}
    loads: list[TableLoad] = []
    discards: list[Row] = []
    for table, rows in rows_by_table.items():
        columns = _columns_for(table, rows, existing, fixed, new_tables, new_columns)
        loads.append(_cast_rows(table, _unique_by_id(rows), columns, discards))
    if discards:
        columns = _columns_for(DISCARDS_TABLE, discards, existing, fixed, new_tables, new_columns)
        loads.append(_cast_rows(DISCARDS_TABLE, discards, columns, []))
    return LoadPlan(schema, new_tables, new_columns, tuple(loads))


def _columns_for(
    table: str,
    rows: Sequence[Row],
    existing: Mapping[str, Mapping[str, ColumnType]],
    fixed: Mapping[str, Mapping[str, ColumnType]],
    new_tables: dict[str, dict[str, ColumnType]],
    new_columns: dict[str, dict[str, ColumnType]],
) -> dict[str, ColumnType]:
    known = existing.get(table)
    if known is not None:
        columns = dict(known)
    else:
        columns = dict(fixed.get(table, FIXED_COLUMNS.get(table, EVENT_TABLE_COLUMNS)))
    added: dict[str, ColumnType] = {}
    for row in rows:
        values = row.values
        if not columns.keys() >= values.keys():
            for name, value in values.items():
                if name not in columns and value is not None:
                    columns[name] = added[name] = infer_type(value)
    if known is None:
        new_tables[table] = columns
    elif added:
        new_columns[table] = added
    return columns


def _unique_by_id(rows: Sequence[Row]) -> list[Row]:
    seen: set[JSON] = set()
    unique = []
    for row in rows:
        key = row.values.get("id")
        if key not in seen:
            seen.add(key)
            unique.append(row)
    return unique


def _cast_rows(
    table: str, rows: Sequence[Row], columns: Mapping[str, ColumnType], discards: list[Row]
) -> TableLoad:
    present: set[str] = set().union(*(row.values.keys() for row in rows))
    names = tuple(sorted(present & columns.keys()))
    lines = _cells_of(rows, names)
    cells = [
        cast_column(column, columns[name])
        for name, column in zip(names, zip(*lines, strict=True), strict=True)
    ]
    misfits = sorted(
        (line, index)
        for index, column in enumerate(cells)
        if DISCARD in column
        for line, cell in enumerate(column)
        if cell is DISCARD
    )
    for line, index in misfits:
        discards.append(_discard_row(table, names[index], rows[line]))
    for index in {index for _, index in misfits}:
        cells[index] = [None if cell is DISCARD else cell for cell in cells[index]]
    # No DISCARD is left in a cell: every one was replaced by NULL above.
    cast_rows = typing.cast(
        "tuple[tuple[Scalar, ...], ...]",
        tuple(zip(*cells, strict=True)) if names else tuple(() for _ in rows),
    )
    types = tuple(columns[name] for name in names)
    return TableLoad(table, names, types, cast_rows, upsert=table in UPSERTED_TABLES)


def _cells_of(rows: Sequence[Row], names: tuple[str, ...]) -> list[Sequence[JSON]]:
    """Each row's values in ``names`` order, ``None`` for a column a row lacks."""
    if len(names) < 2:
        return [[row.values.get(name) for name in names] for row in rows]
    pick = operator.itemgetter(*names)
    lines = []
    for row in rows:
        try:
            lines.append(pick(row.values))
        except KeyError:  # the row lacks one of the table's columns
            lines.append([row.values.get(name) for name in names])
    return lines


def _discard_row(table: str, column: str, row: Row) -> Row:
    return Row(
        DISCARDS_TABLE,
        {
            "id": f"{row.values.get('id')}:{table}:{column}",
            "table_name": table,
            "column_name": column,
            "column_value": cast(row.values.get(column), ColumnType.STRING),
            "received_at": row.values.get("received_at"),
            "uuid_ts": row.values.get("uuid_ts"),
        },
    )


def merge_user_rows(rows: Sequence[Row]) -> list[Row]:
    """One ``users`` row per user id: later identifies (by timestamp) override earlier ones.

    A trait the later identify does not carry keeps the earlier value, as in the stored row.
    """
    order = sorted(enumerate(rows), key=lambda pair: (_moment(pair[1]), pair[0]))
    merged: dict[JSON, dict[str, JSON]] = {}
    for _, row in order:
        target = merged.setdefault(row.values["id"], {})
        target.update({k: v for k, v in row.values.items() if v is not None})
    return [Row("users", values) for values in merged.values()]


def _moment(row: Row) -> datetime:
    moment = cast(row.values.get("timestamp"), ColumnType.TIMESTAMP)
    return moment if isinstance(moment, datetime) else _EARLIEST


_EARLIEST: Final = datetime.min.replace(tzinfo=UTC)
