"""Warehouse loaders: run a ``LoadPlan`` against PostgreSQL (psycopg 3) or a DuckDB file.

Both speak the same SQL here: ``CREATE SCHEMA/TABLE IF NOT EXISTS``, ``ALTER TABLE ... ADD
COLUMN IF NOT EXISTS``, multi-row ``INSERT ... ON CONFLICT``. Each batch is loaded in one
transaction, and every table has ``id`` (the messageId) as its primary key, so loading a batch
again after a crash stores nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from audience.clock import Clock
from audience.destinations.flatten import ColumnType
from audience.destinations.warehouse import LoadPlan, TableLoad, plan_load, schema_name
from audience.errors import PermanentDeliveryError, RetryableDeliveryError
from audience.eventlog import StoredEvent

logger = logging.getLogger(__name__)

Execute = Callable[[str, Sequence[Any]], Any]
"""Runs one SQL statement with bound parameters."""


@dataclass(frozen=True)
class SqlDialect:
    """What differs between the warehouses: type names, parameter marks, statement size."""

    name: str
    types: Mapping[ColumnType, str]
    placeholder: str
    max_parameters: int

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
    max_parameters=60_000,
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
    max_parameters=30_000,
)


def quote(name: str) -> str:
    """A quoted identifier; names come from ``column_name`` and hold only ``[a-z0-9_]``."""
    return '"' + name.replace('"', '""') + '"'


def plan_statements(dialect: SqlDialect, plan: LoadPlan) -> list[tuple[str, list[Any]]]:
    """The statements, with parameters, that carry out ``plan`` in order."""
    schema = quote(plan.schema)
    statements: list[tuple[str, list[Any]]] = [(f"CREATE SCHEMA IF NOT EXISTS {schema}", [])]
    for table, columns in plan.new_tables.items():
        definitions = ", ".join(
            f"{quote(name)} {dialect.types[kind]}" + (" PRIMARY KEY" if name == "id" else "")
            for name, kind in columns.items()
        )
        statements.append(
            (f"CREATE TABLE IF NOT EXISTS {schema}.{quote(table)} ({definitions})", [])
        )
        # A table created concurrently by another loader may lack some of these columns.
        statements.extend(_add_columns(dialect, schema, table, columns))
    for table, columns in plan.new_columns.items():
        statements.extend(_add_columns(dialect, schema, table, columns))
    for load in plan.loads:
        statements.extend(_inserts(dialect, schema, load))
    return statements


def _add_columns(
    dialect: SqlDialect, schema: str, table: str, columns: Mapping[str, ColumnType]
) -> list[tuple[str, list[Any]]]:
    return [
        (
            f"ALTER TABLE {schema}.{quote(table)} ADD COLUMN IF NOT EXISTS "
            f"{quote(name)} {dialect.types[kind]}",
            [],
        )
        for name, kind in columns.items()
        if name != "id"
    ]


def _inserts(dialect: SqlDialect, schema: str, load: TableLoad) -> list[tuple[str, list[Any]]]:
    if not load.rows:
        return []
    per_row = "(" + ", ".join([dialect.placeholder] * len(load.columns)) + ")"
    chunk = max(1, dialect.max_parameters // max(1, len(load.columns)))
    head = (
        f"INSERT INTO {schema}.{quote(load.table)} AS t "
        f"({', '.join(quote(name) for name in load.columns)}) VALUES "
    )
    tail = _upsert_clause(load.columns) if load.upsert else ' ON CONFLICT ("id") DO NOTHING'
    statements = []
    for start in range(0, len(load.rows), chunk):
        rows = load.rows[start : start + chunk]
        parameters = [cell for row in rows for cell in row]
        statements.append((head + ", ".join([per_row] * len(rows)) + tail, parameters))
    return statements


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
    "WHERE table_schema = {mark}"
)


class WarehouseLoader:
    """Loads batches of events into one warehouse, one schema per source (or a fixed one).

    ``connection`` is an open psycopg or DuckDB connection; the loader owns it from now on.
    """

    def __init__(
        self,
        connection: Any,
        dialect: SqlDialect,
        clock: Clock,
        schema: str | None = None,
    ) -> None:
        self._connection = connection
        self._dialect = dialect
        self._clock = clock
        self._schema = schema_name(schema) if schema else None

    def load(self, events: Sequence[StoredEvent]) -> int:
        """Load ``events`` in one transaction; returns how many rows were written."""
        by_schema: dict[str, list[StoredEvent]] = {}
        for event in events:
            by_schema.setdefault(self._schema or schema_name(event.source), []).append(event)
        loaded_at = self._clock.now()
        with self._transaction() as execute:
            return sum(
                self._load_schema(execute, schema, batch, loaded_at)
                for schema, batch in by_schema.items()
            )

    def _load_schema(
        self, execute: Execute, schema: str, events: Sequence[StoredEvent], loaded_at: datetime
    ) -> int:
        plan = plan_load(schema, events, self.columns(execute, schema), loaded_at)
        for sql, parameters in plan_statements(self._dialect, plan):
            execute(sql, parameters)
        return plan.row_count

    def columns(self, execute: Execute, schema: str) -> dict[str, dict[str, ColumnType]]:
        """The tables of ``schema`` and the type of each of their columns."""
        query = COLUMNS_QUERY.format(mark=self._dialect.placeholder)
        tables: dict[str, dict[str, ColumnType]] = {}
        for table, column, sql_type in execute(query, [schema]).fetchall():
            tables.setdefault(table, {})[column] = self._dialect.column_type(sql_type)
        return tables

    def _transaction(self) -> _Transaction:
        return _Transaction(self._connection, self._dialect)

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()


class _Transaction:
    """One transaction on either connection type, yielding a statement runner."""

    def __init__(self, connection: Any, dialect: SqlDialect) -> None:
        self._connection = connection
        self._dialect = dialect

    def __enter__(self) -> Execute:
        self._connection.execute("BEGIN")
        return self._execute

    def _execute(self, sql: str, parameters: Sequence[Any]) -> Any:
        if self._dialect is POSTGRES:
            return self._connection.execute(sql, parameters, prepare=False)
        return self._connection.execute(sql, parameters)

    def __exit__(self, kind: object, error: object, traceback: object) -> None:
        self._connection.execute("COMMIT" if error is None else "ROLLBACK")


def connect_postgres(url: str) -> Any:
    """An autocommit psycopg connection (the loader opens its own transactions)."""
    import psycopg

    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise RetryableDeliveryError(f"cannot connect to PostgreSQL: {exc}") from exc


def connect_duckdb(path: str) -> Any:
    """A DuckDB connection to the database file at ``path`` (created when missing)."""
    import duckdb

    try:
        return duckdb.connect(path)
    except duckdb.IOException as exc:
        raise RetryableDeliveryError(f"cannot open DuckDB file {path}: {exc}") from exc


class PostgresWarehouse:
    """A ``Destination`` that loads events into PostgreSQL tables."""

    def __init__(self, url: str, clock: Clock, schema: str | None = None) -> None:
        self._url = url
        self._clock = clock
        self._schema = schema
        self._loader: WarehouseLoader | None = None

    def deliver(self, events: Sequence[StoredEvent], batch_id: str) -> None:
        import psycopg

        if self._loader is None:
            self._loader = WarehouseLoader(
                connect_postgres(self._url), POSTGRES, self._clock, self._schema
            )
        try:
            self._loader.load(events)
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

    The file is opened for each batch and closed after it, so other programs can read it
    between loads (DuckDB allows one writing process at a time).
    """

    def __init__(self, path: str, clock: Clock, schema: str | None = None) -> None:
        self._path = path
        self._clock = clock
        self._schema = schema

    def deliver(self, events: Sequence[StoredEvent], batch_id: str) -> None:
        import duckdb

        loader = WarehouseLoader(connect_duckdb(self._path), DUCKDB, self._clock, self._schema)
        try:
            loader.load(events)
        except (duckdb.ConversionException, duckdb.ConstraintException) as exc:
            raise PermanentDeliveryError(f"DuckDB rejected the batch: {exc}") from exc
        except duckdb.Error as exc:
            raise RetryableDeliveryError(f"DuckDB load failed: {exc}") from exc
        finally:
            loader.close()

    def close(self) -> None:
        """Nothing stays open between batches."""
