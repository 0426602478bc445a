"""The registry: builds the ``Destination`` a configuration names."""

from __future__ import annotations

import importlib.util

from audience.clock import Clock
from audience.destinations.base import Destination, DestinationConfig
from audience.destinations.people import ProfileReader
from audience.errors import ConfigError


def open_destination(
    config: DestinationConfig, clock: Clock, people: ProfileReader | None = None
) -> Destination:
    """The destination ``config`` describes, ready to deliver.

    Warehouse drivers are imported here, only when used: ``psycopg`` comes with the
    ``postgres`` extra and ``duckdb`` with the ``warehouse`` extra. A warehouse that keeps
    people tables follows ``people``, the profile store.
    """
    require_driver(config)
    options = config.options
    schema = options.get("schema")
    tables = None
    if config.keeps_people:
        from audience.destinations.loaders import PeopleTables

        if people is None:
            raise ConfigError(
                f"destination {config.name} keeps people tables and needs the profile store, "
                "which `audience serve` and `audience destinations run` open"
            )
        tables = PeopleTables(people, config.people_schema)
    if config.kind == "webhook":
        from audience.destinations.webhook import MAX_BODY_BYTES, WebhookDestination

        return WebhookDestination(
            config.name,
            str(options["url"]),
            str(options["secret"]),
            clock,
            timeout=float(options.get("timeout", 10.0)),
            max_body_bytes=int(options.get("max_body_bytes", MAX_BODY_BYTES)),
            previous_secret=str(options.get("previous_secret") or "") or None,
            previous_until=float(options.get("previous_secret_until") or 0.0),
        )
    if config.kind == "relay":
        from audience.destinations.relay import MAX_BATCH_BYTES, RelayDestination

        return RelayDestination(
            str(options["url"]),
            str(options["write_key"]),
            clock,
            timeout=float(options.get("timeout", 10.0)),
            max_batch_bytes=int(options.get("max_body_bytes", MAX_BATCH_BYTES)),
            compress=options.get("gzip", True) is not False,
        )
    if config.kind == "postgres":
        from audience.destinations.loaders import PostgresWarehouse

        return PostgresWarehouse(
            str(options["url"]), clock, str(schema) if schema else None, tables
        )
    if config.kind == "duckdb":
        from audience.destinations.loaders import DuckDBWarehouse

        return DuckDBWarehouse(str(options["path"]), clock, str(schema) if schema else None, tables)
    raise ConfigError(f"unknown destination kind {config.kind!r}")


DRIVERS = {"postgres": ("psycopg", "postgres"), "duckdb": ("duckdb", "warehouse")}
"""Destination kind -> (module it needs, the extra that installs it)."""


def require_driver(config: DestinationConfig) -> None:
    """Raise ``ConfigError`` naming the extra to install when the kind's driver is missing."""
    if config.kind not in DRIVERS:
        return
    module, extra = DRIVERS[config.kind]
    if importlib.util.find_spec(module) is None:
        raise ConfigError(
            f"a {config.kind} destination needs {module}: pip install 'audience[{extra}]'"
        )
