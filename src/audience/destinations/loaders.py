"""Warehouse loaders: run a ``LoadPlan`` against PostgreSQL (psycopg 3) or a DuckDB file.

Both speak the same SQL here: ``CREATE SCHEMA/TABLE IF NOT EXISTS``, ``ALTER TABLE ... ADD
COLUMN IF NOT EXISTS``, ``INSERT ... SELECT ... ON CONFLICT``; only the bulk path that
feeds the ``SELECT`` differs (a JSON array bound as one value, a JSON file). Each batch is
loaded in one transaction, and every table has ``id`` (the messageId) as its primary key,
so loading a batch again after a crash stores nothing twice.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Protocol

import orjson

from audience.clock import Clock
from audience.destinations.flatten import ColumnType
from audience.destinations.people import (
    IDENTITIES,
    OPERATOR_ACTIONS,
    PEOPLE_SCHEMA,
    PROFILES,
    SYNC_STATE,
    Person,
    ProfileReader,
    action_identifiers,
    identifier_of_key,
    identity_key,
    named_identifiers,
    plan_people,
    read_person,
)
from audience.destinations.warehouse import LoadPlan, TableLoad, plan_load, schema_name
from audience.errors import PermanentDeliveryError, RetryableDeliveryError
from audience.eventlog import StoredEvent
from audience.identity.profiles import Profile

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SqlDialect:
    """What differs between the warehouses: type names and the parameter mark."""

    name: str
    types: Mapping[ColumnType, str]
    placeholder: str

    def column_type(self, sql_type: str) -> ColumnType:
        """The column type of a column the warehouse reports as ``sql_type``."""
        lowered = sql_type.lower()
        if lowered.startswith("bool"):
            return ColumnType.BOOLEAN
        if lowered in ("bigint", "integer", "smallint", "int", "int8", "int4", "hugeint"):
            return ColumnType.INTEGER
        if lowered.startswith(("double", "real", "float", "numeric", "decimal")):
            return ColumnType.FLOAT
        if lowered.startswith("timestamp"):
            return ColumnType.TIMESTAMP
        return ColumnType.STRING


POSTGRES: Final = SqlDialect(
    name="postgres",
    types={
        ColumnType.BOOLEAN: "boolean",
        ColumnType.INTEGER: "bigint",
        ColumnType.FLOAT: "double precision",
        ColumnType.TIMESTAMP: "timestamptz",
        ColumnType.STRING: "text",
    },
    placeholder="%s",
)

DUCKDB: Final = SqlDialect(
    name="duckdb",
    types={
        ColumnType.BOOLEAN: "BOOLEAN",
        ColumnType.INTEGER: "BIGINT",
        ColumnType.FLOAT: "DOUBLE",
        ColumnType.TIMESTAMP: "TIMESTAMPTZ",
        ColumnType.STRING: "VARCHAR",
    },
    placeholder="?",
)


def quote(name: str) -> str:
    """A quoted identifier; names come from ``column_name`` and hold only ``[a-z0-9_]``."""
    return '"' + name.replace('"', '""') + '"'


def schema_statements(dialect: SqlDialect, plan: LoadPlan) -> list[str]:
    """The DDL that makes ``plan``'s tables and columns exist, in order."""
    schema = quote(plan.schema)
    statements = [f"CREATE SCHEMA IF NOT EXISTS {schema}"]
    for table, columns in plan.new_tables.items():
        definitions = ", ".join(
            f"{quote(name)} {dialect.types[kind]}" + (" PRIMARY KEY" if name == "id" else "")
            for name, kind in columns.items()
        )
        statements.append(f"CREATE TABLE IF NOT EXISTS {schema}.{quote(table)} ({definitions})")
        # A table created concurrently by another loader may lack some of these columns.
        statements.extend(_add_columns(dialect, schema, table, columns))
    for table, columns in plan.new_columns.items():
        statements.extend(_add_columns(dialect, schema, table, columns))
    return statements


def _add_columns(
    dialect: SqlDialect, schema: str, table: str, columns: Mapping[str, ColumnType]
) -> list[str]:
    return [
        f"ALTER TABLE {schema}.{quote(table)} ADD COLUMN IF NOT EXISTS "
        f"{quote(name)} {dialect.types[kind]}"
        for name, kind in columns.items()
        if name != "id"
    ]


def insert_from(schema: str, load: TableLoad, rows_sql: str) -> str:
    """``INSERT`` of the rows ``rows_sql`` selects: new ids only, or the ``users`` merge."""
    names = ", ".join(quote(name) for name in load.columns)
    conflict = _upsert_clause(load.columns) if load.upsert else ' ON CONFLICT ("id") DO NOTHING'
    return (
        f"INSERT INTO {quote(schema)}.{quote(load.table)} AS t ({names}) "
        f"SELECT {names} FROM {rows_sql}{conflict}"
    )


def _upsert_clause(columns: Sequence[str]) -> str:
    """The ``users`` merge: the later identify's values win; values it lacks are kept."""
    newer = 't."timestamp" IS NULL OR excluded."timestamp" >= t."timestamp"'
    assignments = []
    for name in columns:
        column = quote(name)
        if name == "id":
            continue
        if name == "timestamp":
            assignments.append(f'{column} = GREATEST(t."timestamp", excluded."timestamp")')
            continue
        assignments.append(
            f"{column} = CASE WHEN {newer} THEN COALESCE(excluded.{column}, t.{column}) "
            f"ELSE COALESCE(t.{column}, excluded.{column}) END"
        )
    return ' ON CONFLICT ("id") DO UPDATE SET ' + ", ".join(assignments)


COLUMNS_QUERY: Final = (
    "SELECT table_name, column_name, data_type FROM information_schema.columns "
    "WHERE table_schema = {mark} AND table_catalog = current_database()"
)


class RowWriter(Protocol):
    """Writes a table's rows in bulk, inside the loader's open transaction."""

    def write(self, connection: Any, schema: str, load: TableLoad) -> None:
        """Insert (or merge) ``load.rows`` into ``schema.load.table``."""
        ...


class PostgresRows:
    """Rows go in one ``INSERT ... SELECT`` from one JSON array of all of them, sent as one value.

    ``orjson`` writes the array and the server reads it, both in C, where binding row by row
    or value by value costs Python calls; one statement per table and batch, no temporary
    table, and the ``INSERT`` keeps the conflict rules.
    """

    def write(self, connection: Any, schema: str, load: TableLoad) -> None:
        cells = ", ".join(
            f"(r ->> {index})::{POSTGRES.types[kind]} AS {quote(name)}"
            for index, (name, kind) in enumerate(zip(load.columns, load.types, strict=True))
        )
        rows_sql = f"(SELECT {cells} FROM jsonb_array_elements(%s::jsonb) AS r) AS s"
        connection.execute(insert_from(schema, load, rows_sql), [json_rows(load).decode()])


def json_rows(load: TableLoad) -> bytes:
    """``load.rows`` as one JSON array of arrays; timestamps in ISO 8601 with their offset.

    JSON has no infinite or NaN numbers (``orjson`` would write ``null``), and ``jsonb``
    keeps no sign on zero: such a float is written as the text PostgreSQL reads for it
    (``Infinity``, ``-Infinity``, ``NaN``, ``-0``).
    """
    floats = [index for index, kind in enumerate(load.types) if kind is ColumnType.FLOAT]
    rows: Sequence[Sequence[object]] = load.rows
    if floats and not all(
        _plain_float(cell)
        for row in load.rows
        for index in floats
        if isinstance(cell := row[index], float)
    ):
        rows = [[_float_as_text(cell) for cell in row] for row in load.rows]
    return orjson.dumps(rows)


def _plain_float(number: float) -> bool:
    return math.isfinite(number) and (number != 0.0 or math.copysign(1.0, number) > 0)


def _float_as_text(cell: object) -> object:
    if not isinstance(cell, float) or _plain_float(cell):
        return cell
    if math.isnan(cell):
        return "NaN"
    if cell == 0.0:
        return "-0"
    return "Infinity" if cell > 0 else "-Infinity"


class DuckDBRows:
    """Rows go through a newline-delimited JSON file read by ``read_json`` with fixed types.

    Binding thousands of parameters is DuckDB's slow path; reading a file is its fast one.
    """

    def __init__(self, folder: Path) -> None:
        self._folder = folder

    def write(self, connection: Any, schema: str, load: TableLoad) -> None:
        columns = ", ".join(
            f"'{name}': '{DUCKDB.types[kind]}'"
            for name, kind in zip(load.columns, load.types, strict=True)
        )
        handle, name = tempfile.mkstemp(suffix=".ndjson", dir=self._folder)
        try:
            with os.fdopen(handle, "wb") as file:
                for row in load.rows:
                    file.write(orjson.dumps(dict(zip(load.columns, row, strict=True))))
                    file.write(b"\n")
            rows_sql = (
                "read_json(?, format = 'newline_delimited', "
                f"columns = {{{columns}}}, maximum_object_size = 67108864)"
            )
            connection.execute(insert_from(schema, load, rows_sql), [name])
        finally:
            os.unlink(name)


@dataclass(frozen=True)
class PeopleTables:
    """Where a warehouse keeps its people tables, and the profile store they follow."""

    reader: ProfileReader
    schema: str = PEOPLE_SCHEMA


IN_LIST: Final = 500
"""Most values bound in one ``IN (...)`` list."""


class WarehouseLoader:
    """Loads batches of events into one warehouse, one schema per source (or a fixed one).

    ``connection`` is an open psycopg (autocommit) or DuckDB connection; the loader owns it.
    With ``people``, each batch also writes again, in the same transaction, the profiles its
    events touch (:mod:`audience.destinations.people`).
    """

    def __init__(
        self,
        connection: Any,
        dialect: SqlDialect,
        rows: RowWriter,
        clock: Clock,
        schema: str | None = None,
        people: PeopleTables | None = None,
    ) -> None:
        self._connection = connection
        self._dialect = dialect
        self._rows = rows
        self._clock = clock
        self._schema = schema_name(schema) if schema else None
        self._people = people
        # The columns of the event schemas, kept from one batch to the next while no batch
        # changes them: reading the catalog costs more than planning a small batch.
        self._tables: dict[str, dict[str, dict[str, ColumnType]]] = {}

    def load(self, events: Sequence[StoredEvent]) -> int:
        """Load ``events`` in one transaction; returns how many rows were written."""
        by_schema: dict[str, list[StoredEvent]] = {}
        for event in events:
            by_schema.setdefault(self._schema or schema_name(event.source), []).append(event)
        loaded_at = self._clock.now()
        remembered = any(schema in self._tables for schema in by_schema)
        try:
            return self._load_in_transaction(by_schema, events, loaded_at)
        except Exception:
            self._tables.clear()
            if not remembered:
                raise
        # The remembered columns may be out of date (a table or column dropped by hand): once
        # more, with the columns read afresh.
        return self._load_in_transaction(by_schema, events, loaded_at)

    def _load_in_transaction(
        self,
        by_schema: Mapping[str, Sequence[StoredEvent]],
        events: Sequence[StoredEvent],
        loaded_at: datetime,
    ) -> int:
        self._connection.execute("BEGIN")
        try:
            written = sum(
                self._load_schema(schema, batch, loaded_at) for schema, batch in by_schema.items()
            )
            if self._people is not None:
                written += self._write_people(self._people, events, loaded_at)
        except BaseException:
            self._connection.execute("ROLLBACK")
            raise
        self._connection.execute("COMMIT")
        return written

    def _load_schema(self, schema: str, events: Sequence[StoredEvent], loaded_at: datetime) -> int:
        existing = self._tables.get(schema)
        if existing is not None:
            plan = plan_load(schema, events, existing, loaded_at)
            if plan.new_tables or plan.new_columns:
                existing = None  # another loader may have made them since they were read
        if existing is None:
            existing = self.columns(schema)
            plan = plan_load(schema, events, existing, loaded_at)
        if plan.new_tables or plan.new_columns:
            for statement in schema_statements(self._dialect, plan):
                self._connection.execute(statement)
            self._tables.pop(schema, None)  # read again with the next batch
        else:
            self._tables[schema] = existing
        for load in plan.loads:
            if load.rows:
                self._rows.write(self._connection, schema, load)
        return plan.row_count

    def follow_profiles(self) -> int:
        """Write again the profiles of operator actions the people tables do not reflect yet, in
        one transaction; rows written (0 when there were none, or without people tables)."""
        if self._people is None:
            return 0
        self._connection.execute("BEGIN")
        try:
            written = self._write_people(self._people, [], self._clock.now())
        except BaseException:
            self._connection.execute("ROLLBACK")
            raise
        self._connection.execute("COMMIT")
        return written

    def _write_people(
        self, people: PeopleTables, events: Sequence[StoredEvent], loaded_at: datetime
    ) -> int:
        """Write again every profile the events and the newer operator actions touch, and
        delete the rows of merged ones."""
        reader = people.reader
        existing = self.columns(people.schema)
        actions = reader.actions()
        followed = self._followed_actions(people.schema, existing)
        named = named_identifiers(events)
        if len(actions) != followed:
            named |= action_identifiers(actions[followed:] if len(actions) > followed else actions)
        if not named:
            return 0
        if events and reader.cursor() < events[-1].seq:
            raise RetryableDeliveryError("the profiles are behind this batch (being rebuilt)")
        persons: dict[str, Person] = {}
        for identifier in named:
            self._add_person(reader, persons, reader.lookup(identifier))
        rewritten: set[str] = set()
        if IDENTITIES in existing:
            rewritten = self._former_profiles(people.schema, reader, persons)
            held = [identity_key(i) for person in persons.values() for i in person.identifiers]
            self._delete_in(people.schema, IDENTITIES, "profile_id", sorted(rewritten))
            self._delete_in(people.schema, IDENTITIES, "id", held)
            self._delete_in(people.schema, PROFILES, "id", sorted(rewritten))
        if SYNC_STATE in existing and len(actions) != followed:
            self._delete_in(people.schema, SYNC_STATE, "id", [OPERATOR_ACTIONS])
        plan = plan_people(
            people.schema,
            list(persons.values()),
            existing,
            loaded_at,
            len(actions) if len(actions) != followed else None,
        )
        for statement in schema_statements(self._dialect, plan):
            self._connection.execute(statement)
        for load in plan.loads:
            if load.rows:
                self._rows.write(self._connection, people.schema, load)
        return plan.row_count

    @staticmethod
    def _add_person(
        reader: ProfileReader, persons: dict[str, Person], profile: Profile | None
    ) -> bool:
        if profile is None or profile.id in persons:
            return False
        persons[profile.id] = read_person(reader, profile)
        return True

    def _former_profiles(
        self, schema: str, reader: ProfileReader, persons: dict[str, Person]
    ) -> set[str]:
        """The ids of the profiles whose rows must go: every profile the warehouse shows holding
        one of the identifiers of ``persons``. ``persons`` gains, as the profile store has them
        now, every profile holding an identifier one of those held (a merged profile's, or the
        people a split leaves behind), until no more are found."""
        rewritten: set[str] = set(persons)
        asked: set[str] = set()
        while True:
            keys = [
                identity_key(identifier)
                for profile_id, person in persons.items()
                if profile_id not in asked
                for identifier in person.identifiers
            ]
            asked |= persons.keys()
            former = self._select_in(schema, IDENTITIES, "profile_id", "id", keys) - rewritten
            rewritten |= former
            grew = False
            for profile_id in sorted(former):
                grew = self._add_person(reader, persons, reader.get(profile_id)) or grew
            left_behind = self._select_in(schema, IDENTITIES, "id", "profile_id", sorted(former))
            for key in sorted(left_behind):
                identifier = identifier_of_key(key)
                if identifier is not None:
                    grew = self._add_person(reader, persons, reader.lookup(identifier)) or grew
            if not grew:
                return rewritten | persons.keys()

    def _followed_actions(
        self, schema: str, existing: Mapping[str, Mapping[str, ColumnType]]
    ) -> int:
        """How many operator actions the people tables reflect (``sync_state``)."""
        if SYNC_STATE not in existing:
            return 0
        query = (
            f"SELECT value FROM {quote(schema)}.{quote(SYNC_STATE)} "
            f"WHERE id = {self._dialect.placeholder}"
        )
        row = self._connection.execute(query, [OPERATOR_ACTIONS]).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def _select_in(
        self, schema: str, table: str, column: str, key: str, values: Sequence[str]
    ) -> set[str]:
        found: set[str] = set()
        target = f"{quote(schema)}.{quote(table)}"
        for start in range(0, len(values), IN_LIST):
            chunk = values[start : start + IN_LIST]
            marks = ", ".join([self._dialect.placeholder] * len(chunk))
            query = f"SELECT DISTINCT {quote(column)} FROM {target} WHERE {quote(key)} IN ({marks})"
            found.update(row[0] for row in self._connection.execute(query, chunk).fetchall())
        return found

    def _delete_in(self, schema: str, table: str, column: str, values: Sequence[str]) -> None:
        target = f"{quote(schema)}.{quote(table)}"
        for start in range(0, len(values), IN_LIST):
            chunk = values[start : start + IN_LIST]
            marks = ", ".join([self._dialect.placeholder] * len(chunk))
            self._connection.execute(
                f"DELETE FROM {target} WHERE {quote(column)} IN ({marks})", chunk
            )

    def columns(self, schema: str) -> dict[str, dict[str, ColumnType]]:
        """The tables of ``schema`` and the type of each of their columns."""
        query = COLUMNS_QUERY.format(mark=self._dialect.placeholder)
        tables: dict[str, dict[str, ColumnType]] = {}
        for table, column, sql_type in self._connection.execute(query, [schema]).fetchall():
            tables.setdefault(table, {})[column] = self._dialect.column_type(sql_type)
        return tables

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()


def connect_postgres(url: str) -> Any:
    """An autocommit psycopg connection (the loader opens its own transactions)."""
    import psycopg

    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise RetryableDeliveryError(f"cannot connect to PostgreSQL: {exc}") from exc


DUCKDB_CATALOG: Final = "audience_warehouse"
"""The name the loader gives the DuckDB file it opens. DuckDB names a file's catalog after the
file, and a catalog and a schema of the same name make every table reference ambiguous: a file
``web.duckdb`` could not hold the schema of the source ``web`` under its own name."""


def connect_duckdb(path: str) -> Any:
    """A DuckDB connection to the database file at ``path`` (created when missing), attached
    as ``DUCKDB_CATALOG`` and in use."""
    import duckdb

    connection = duckdb.connect()
    literal = "'" + path.replace("'", "''") + "'"
    try:
        connection.execute(f"ATTACH {literal} AS {DUCKDB_CATALOG}")
        connection.execute(f"USE {DUCKDB_CATALOG}")
    except duckdb.Error as exc:
        connection.close()
        raise RetryableDeliveryError(f"cannot open DuckDB file {path}: {exc}") from exc
    return connection


class PostgresWarehouse:
    """A ``Destination`` that loads events (and with ``people``, profiles) into PostgreSQL."""

    closes_when_caught_up = False

    def __init__(
        self,
        url: str,
        clock: Clock,
        schema: str | None = None,
        people: PeopleTables | None = None,
    ) -> None:
        self._url = url
        self._clock = clock
        self._schema = schema
        self._people = people
        self._loader: WarehouseLoader | None = None

    def deliver(self, events: Sequence[StoredEvent], batch_id: str) -> None:
        self._run(lambda loader: loader.load(events))

    def follow_profiles(self) -> int:
        """Bring the people tables up to the profile store's operator actions."""
        return self._run(lambda loader: loader.follow_profiles())

    def _run(self, work: Callable[[WarehouseLoader], int]) -> int:
        import psycopg

        if self._loader is None:
            self._loader = WarehouseLoader(
                connect_postgres(self._url),
                POSTGRES,
                PostgresRows(),
                self._clock,
                self._schema,
                self._people,
            )
        try:
            return work(self._loader)
        except (psycopg.errors.DataError, psycopg.errors.ProgrammingError) as exc:
            raise PermanentDeliveryError(f"PostgreSQL rejected the batch: {exc}") from exc
        except psycopg.Error as exc:
            self.close()
            raise RetryableDeliveryError(f"PostgreSQL load failed: {exc}") from exc

    def close(self) -> None:
        if self._loader is not None:
            loader, self._loader = self._loader, None
            import psycopg

            try:
                loader.close()
            except psycopg.Error:
                logger.debug("closing a broken PostgreSQL connection failed", exc_info=True)


class DuckDBWarehouse:
    """A ``Destination`` that loads events into a DuckDB database file.

    The file stays open from one batch to the next while there is a backlog, and is closed
    by ``close``, which the dispatcher calls whenever the destination has caught up: other
    programs can then open the file (DuckDB allows one writing process at a time).
    """

    closes_when_caught_up = True

    def __init__(
        self,
        path: str,
        clock: Clock,
        schema: str | None = None,
        people: PeopleTables | None = None,
    ) -> None:
        self._path = path
        self._clock = clock
        self._schema = schema
        self._people = people
        self._loader: WarehouseLoader | None = None

    def deliver(self, events: Sequence[StoredEvent], batch_id: str) -> None:
        self._run(lambda loader: loader.load(events))

    def follow_profiles(self) -> int:
        """Bring the people tables up to the profile store's operator actions."""
        return self._run(lambda loader: loader.follow_profiles())

    def _run(self, work: Callable[[WarehouseLoader], int]) -> int:
        import duckdb

        if self._loader is None:
            rows = DuckDBRows(Path(self._path).resolve().parent)
            connection = connect_duckdb(self._path)
            self._loader = WarehouseLoader(
                connection, DUCKDB, rows, self._clock, self._schema, self._people
            )
        try:
            return work(self._loader)
        except (duckdb.ConversionException, duckdb.ConstraintException) as exc:
            self.close()
            raise PermanentDeliveryError(f"DuckDB rejected the batch: {exc}") from exc
        except duckdb.Error as exc:
            self.close()
            raise RetryableDeliveryError(f"DuckDB load failed: {exc}") from exc

    def close(self) -> None:
        """Close the file."""
        if self._loader is not None:
            loader, self._loader = self._loader, None
            loader.close()
