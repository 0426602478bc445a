"""Settings: one frozen value built at the edge from defaults, ``AUDIENCE_*`` variables and flags.

``load_settings`` is the only reader of the environment. Every setting has a name, an
environment variable, a default and a help line in ``SETTINGS``; the CLI help and the
README's configuration table come from the same rows.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from audience.errors import ConfigError
from audience.identity.graph import DEFAULT_SHARED_AFTER
from audience.tracking import MAX_BATCH_EVENTS, MAX_EVENT_BYTES, MAX_REQUEST_BYTES

Synchronous = Literal["full", "normal"]
LogFormat = Literal["plain", "json"]
Role = Literal["all", "collector", "writer"]


@dataclass(frozen=True)
class Settings:
    """Everything the collector and its store need to run; passed down by argument."""

    data_dir: Path = Path("audience-data")
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None
    admin_token: str | None = None
    browser_bundle: tuple[Path, ...] = ()
    trusted_proxies: tuple[str, ...] = ()
    max_event_bytes: int = MAX_EVENT_BYTES
    max_request_bytes: int = MAX_REQUEST_BYTES
    max_batch_events: int = MAX_BATCH_EVENTS
    synchronous: Synchronous = "full"
    log_level: str = "info"
    log_format: LogFormat = "plain"
    database_url: str | None = None
    workers: int = 1
    http_max_header_bytes: int = 32768
    http_header_timeout: float = 10.0
    http_body_timeout: float = 10.0
    http_body_min_rate: int = 1024
    http_keep_alive_timeout: float = 5.0
    http_max_connections: int | None = None
    identifier_user_limit: int = DEFAULT_SHARED_AFTER
    weekly_anonymous_id_limit: int = 0
    weekly_email_limit: int = 0
    child_down_limit: float = 30.0
    metrics_token: str | None = None
    parse_user_agents: bool = False
    geoip_db: Path | None = None
    drop_bots: bool = False
    retention_days: int | None = None
    retention_interval: float = 3600.0
    log: tuple[str, ...] = ()
    partitions: int = 4
    log_prefix: str = "audience"
    log_replicas: int = 1
    role: Role = "all"

    @property
    def database_path(self) -> Path:
        """The SQLite event store inside the data folder."""
        return self.data_dir / "events.sqlite3"


@dataclass(frozen=True)
class Setting:
    """One row of the settings table: the field, its variable, how to read it, and what it does."""

    name: str
    env: str
    help: str
    parse: Callable[[str], Any]


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError(f"{text!r} is not a positive integer")
    return value


def _limit(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(f"{text!r} is not 0 (no limit) or a positive integer")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 86400:
        raise ValueError(f"{text!r} is not a number of seconds above 0 and at most 86400")
    return value


def _switch(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{text!r} is not true or false (1/0, yes/no, on/off)")


def _existing_file(text: str) -> Path:
    path = Path(text.strip())
    if not path.is_file():
        raise ValueError(f"{text!r} is not a file")
    return path


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError(f"{text!r} is not a TCP port")
    return value


def _proxies(text: str) -> tuple[str, ...]:
    networks = tuple(part.strip() for part in text.split(",") if part.strip())
    for network in networks:
        ipaddress.ip_network(network, strict=False)
    return networks


def _bundle_folders(text: str) -> tuple[Path, ...]:
    return tuple(Path(part.strip()) for part in text.split(",") if part.strip())


def _public_url(text: str) -> str:
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{text!r} is not an http(s) URL such as https://cdp.example.com")
    return text.strip().rstrip("/")


def _synchronous(text: str) -> Synchronous:
    value = text.strip().lower()
    if value == "full":
        return "full"
    if value == "normal":
        return "normal"
    raise ValueError(f"{text!r} is neither 'full' nor 'normal'")


def _database_url(text: str) -> str:
    value = text.strip()
    if urlsplit(value).scheme not in ("postgresql", "postgres"):
        raise ValueError("a database URL starts with postgresql:// (leave it out to use SQLite)")
    return value


def _log_level(text: str) -> str:
    value = text.strip().lower()
    if value not in ("debug", "info", "warning", "error", "critical"):
        raise ValueError(f"{text!r} is not debug, info, warning, error or critical")
    return value


def _retention_days(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number of days") from None
    if not 1 <= value <= 36_500:
        raise ValueError(f"{text!r} is not a number of days from 1 to 36500")
    return value


def _metrics_token(text: str) -> str:
    value = text.strip()
    if len(value) < MIN_ADMIN_TOKEN_LENGTH:
        raise ValueError(
            f"a metrics token needs at least {MIN_ADMIN_TOKEN_LENGTH} characters, this one has "
            f"{len(value)}; make one with `openssl rand -base64 32`"
        )
    if any(character.isspace() or not character.isprintable() for character in value):
        raise ValueError("a metrics token cannot hold spaces or control characters")
    return value


def _log_format(text: str) -> LogFormat:
    value = text.strip().lower()
    if value == "plain":
        return "plain"
    if value == "json":
        return "json"
    raise ValueError(f"{text!r} is not plain or json")


def _log_servers(text: str) -> tuple[str, ...]:
    servers = []
    for part in (piece.strip() for piece in text.split(",")):
        if not part:
            continue
        url = part if "://" in part else f"nats://{part}"
        where = urlsplit(url)
        if where.scheme not in ("nats", "tls") or not where.hostname:
            raise ValueError(f"{part!r} is not a NATS server such as nats://host:4222")
        servers.append(url)
    if not servers:
        raise ValueError("no NATS server given (nats://host:4222[,host2:4222,...])")
    return tuple(servers)


def _log_prefix(text: str) -> str:
    value = text.strip()
    if not value or not all(character.isalnum() or character in "-_" for character in value):
        raise ValueError(f"{text!r} is not a stream name of letters, digits, '-' and '_'")
    return value


def _role(text: str) -> Role:
    value = text.strip().lower()
    if value == "all":
        return "all"
    if value == "collector":
        return "collector"
    if value == "writer":
        return "writer"
    raise ValueError(f"{text!r} is not all, collector or writer")


def _replicas(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 5:
        raise ValueError(f"{text!r} is not a number of replicas from 1 to 5")
    return value


MIN_ADMIN_TOKEN_LENGTH: Final = 32
"""An admin token shorter than this is refused: 32 random characters are beyond any guessing."""


def _token(text: str) -> str:
    value = text.strip()
    if len(value) < MIN_ADMIN_TOKEN_LENGTH:
        raise ValueError(
            f"an admin token needs at least {MIN_ADMIN_TOKEN_LENGTH} characters, this one has "
            f"{len(value)}; make one with `openssl rand -base64 32`, or leave it unset to have "
            "one generated"
        )
    if any(character.isspace() or not character.isprintable() for character in value):
        raise ValueError("an admin token cannot hold spaces or control characters")
    return value


SETTINGS: Final[tuple[Setting, ...]] = (
    Setting(
        "data_dir",
        "AUDIENCE_DATA_DIR",
        "Folder holding the SQLite files: the events, the profiles and the delivery state.",
        Path,
    ),
    Setting("host", "AUDIENCE_HOST", "Address the collector listens on.", str),
    Setting("port", "AUDIENCE_PORT", "TCP port the collector listens on.", _port),
    Setting(
        "public_url",
        "AUDIENCE_PUBLIC_URL",
        "URL browsers reach the collector at (https://cdp.example.com); the browser settings "
        "point apiHost there. Default: the host each request came to.",
        _public_url,
    ),
    Setting(
        "admin_token",
        "AUDIENCE_ADMIN_TOKEN",
        "Bearer token of the admin API and the pages' login, at least 32 characters. Default: "
        "generated on first start and kept with the data (`audience admin token` prints it).",
        _token,
    ),
    Setting(
        "browser_bundle",
        "AUDIENCE_BROWSER_BUNDLE",
        "The dist/umd folder of @customerio/cdp-analytics-browser or @segment/analytics-next "
        "(comma-separated for both): the client's script and every chunk it loads are served "
        "from there.",
        _bundle_folders,
    ),
    Setting(
        "trusted_proxies",
        "AUDIENCE_TRUSTED_PROXIES",
        "Comma-separated addresses or networks whose X-Forwarded-For, X-Forwarded-Proto and "
        "X-Forwarded-Host are believed. Default: none, loopback included.",
        _proxies,
    ),
    Setting(
        "max_event_bytes",
        "AUDIENCE_MAX_EVENT_BYTES",
        "Largest single event accepted, in bytes.",
        _positive_int,
    ),
    Setting(
        "max_request_bytes",
        "AUDIENCE_MAX_REQUEST_BYTES",
        "Largest request body accepted after decompression, in bytes.",
        _positive_int,
    ),
    Setting(
        "max_batch_events",
        "AUDIENCE_MAX_BATCH_EVENTS",
        "Most events of one batch request that are stored; the ones past it are refused alone.",
        _positive_int,
    ),
    Setting(
        "synchronous",
        "AUDIENCE_SYNCHRONOUS",
        "SQLite durability: 'full' survives power loss, 'normal' survives a crash of the process.",
        _synchronous,
    ),
    Setting("log_level", "AUDIENCE_LOG_LEVEL", "debug, info, warning or error.", _log_level),
    Setting(
        "log_format",
        "AUDIENCE_LOG_FORMAT",
        "plain (lines for people) or json (one object a line, for a log collector), in every "
        "process: the collectors, the resolver and the dispatcher.",
        _log_format,
    ),
    Setting(
        "database_url",
        "AUDIENCE_DATABASE_URL",
        "postgresql://user@host:5432/db: keep events, profiles and deliveries in PostgreSQL, "
        "shared by every process and host. Default: SQLite files in the data folder.",
        _database_url,
    ),
    Setting(
        "workers",
        "AUDIENCE_WORKERS",
        "Collector processes sharing the port (PostgreSQL only).",
        _positive_int,
    ),
    Setting(
        "http_max_header_bytes",
        "AUDIENCE_HTTP_MAX_HEADER_BYTES",
        "Largest request line and headers together, in bytes; larger gets 431.",
        _positive_int,
    ),
    Setting(
        "http_header_timeout",
        "AUDIENCE_HTTP_HEADER_TIMEOUT",
        "Seconds from a connection's open (or a later request's first byte) to the end of "
        "the headers, however slowly they trickle; later gets 408.",
        _seconds,
    ),
    Setting(
        "http_body_timeout",
        "AUDIENCE_HTTP_BODY_TIMEOUT",
        "Seconds a request body may go without progress, or a response wait for a client "
        "that does not read; past it the request gets 408.",
        _seconds,
    ),
    Setting(
        "http_body_min_rate",
        "AUDIENCE_HTTP_BODY_MIN_RATE",
        "Slowest a request body may arrive on average, in bytes a second (each byte buys "
        "1/rate s, the lead capped at the body timeout); slower gets 408.",
        _positive_int,
    ),
    Setting(
        "http_keep_alive_timeout",
        "AUDIENCE_HTTP_KEEP_ALIVE_TIMEOUT",
        "Seconds an idle keep-alive connection stays open between requests.",
        _seconds,
    ),
    Setting(
        "http_max_connections",
        "AUDIENCE_HTTP_MAX_CONNECTIONS",
        "Most open connections per collector process; at the cap the longest-idle one is "
        "closed, or the new one gets 503. Default: the open-file limit less a reserve.",
        _positive_int,
    ),
    Setting(
        "identifier_user_limit",
        "AUDIENCE_IDENTIFIER_USER_LIMIT",
        "Most user ids one anonymous id or email may be linked to; past it the identifier is "
        "shared (a shared device, a test account) and links nobody. Recorded with the profiles: "
        "a change applies from the next 'audience resolve --rebuild'.",
        _positive_int,
    ),
    Setting(
        "weekly_anonymous_id_limit",
        "AUDIENCE_WEEKLY_ANONYMOUS_ID_LIMIT",
        "Most anonymous ids one user id may claim in a week (by event time); past it the "
        "identify's anonymous id is not linked and the refusal is listed. 0: no limit. Recorded "
        "with the profiles: a change applies from the next 'audience resolve --rebuild'.",
        _limit,
    ),
    Setting(
        "weekly_email_limit",
        "AUDIENCE_WEEKLY_EMAIL_LIMIT",
        "With email linking, most emails one user id may claim in a week (by event time); past "
        "it the email is not linked. 0: no limit. Recorded like the other limits.",
        _limit,
    ),
    Setting(
        "child_down_limit",
        "AUDIENCE_CHILD_DOWN_LIMIT",
        "Seconds the resolver or the dispatcher child may stay down before /readyz answers 503.",
        _seconds,
    ),
    Setting(
        "metrics_token",
        "AUDIENCE_METRICS_TOKEN",
        "Bearer token /metrics requires, at least 32 characters, for a scraper that reaches the "
        "collector over a network. Default: none, /metrics is open.",
        _metrics_token,
    ),
    Setting(
        "parse_user_agents",
        "AUDIENCE_PARSE_USER_AGENTS",
        "Read each event's context.userAgent into context.browser, context.os and "
        "context.device, and mark known bots with context.bot. Default: off.",
        _switch,
    ),
    Setting(
        "geoip_db",
        "AUDIENCE_GEOIP_DB",
        "A MaxMind-format database (GeoLite2 or GeoIP2 City or Country .mmdb): each event's "
        "context.ip is placed into context.location; 0.0.0.0 never is. Default: none.",
        _existing_file,
    ),
    Setting(
        "drop_bots",
        "AUDIENCE_DROP_BOTS",
        "Leave out the events of known bots (read from the user agent), counted as dropped for "
        "the reason bot; the client is answered as if they were stored. Default: off.",
        _switch,
    ),
    Setting(
        "retention_days",
        "AUDIENCE_RETENTION_DAYS",
        "Days events are kept in the event store: older ones are pruned once the profiles and "
        "every destination have them (a source's own, from 'audience sources set-retention', "
        "comes first). Default: kept for ever.",
        _retention_days,
    ),
    Setting(
        "retention_interval",
        "AUDIENCE_RETENTION_INTERVAL",
        "Seconds between two retention runs of 'audience serve' (the first runs at start).",
        _seconds,
    ),
    Setting(
        "log",
        "AUDIENCE_LOG",
        "NATS servers of the event log (nats://host:4222[,host2:4222,...]): accepted events are "
        "published to a JetStream stream, answered once JetStream acknowledged them, and a writer "
        "appends them to the event store. Default: none, the event store is the log.",
        _log_servers,
    ),
    Setting(
        "partitions",
        "AUDIENCE_PARTITIONS",
        "Partitions of the log; an event's partition follows its anonymousId, else userId, else "
        "messageId.",
        _positive_int,
    ),
    Setting(
        "log_prefix",
        "AUDIENCE_LOG_PREFIX",
        "Name of the log's JetStream stream and prefix of its subjects (<prefix>.events.<n>).",
        _log_prefix,
    ),
    Setting(
        "log_replicas",
        "AUDIENCE_LOG_REPLICAS",
        "Replicas of the log's stream when it is created (1 to 5; 3 on a three-node cluster).",
        _replicas,
    ),
    Setting(
        "role",
        "AUDIENCE_ROLE",
        "What 'audience serve' runs: all (everything), collector (the tracking API publishing to "
        "the log; needs log) or writer (the log's writer into the event store, the resolver, the "
        "dispatcher and the admin API; needs log).",
        _role,
    ),
)


def check_combination(settings: Settings) -> Settings:
    """``settings`` when its settings make sense together; ``ConfigError`` naming them if not."""
    if settings.role != "all" and not settings.log:
        raise ConfigError(
            f"role: {settings.role} needs log (--log nats://host:4222): without a log the "
            "collector commits to the event store itself, so there is nothing to split"
        )
    if settings.log and settings.workers > 1 and settings.role != "collector":
        raise ConfigError(
            "workers: with log, each partition has one writer process; run several collector "
            "processes with --role collector and one --role writer"
        )
    return settings


def load_settings(
    env: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Build the settings: defaults, then ``AUDIENCE_*`` variables, then ``overrides``.

    ``env`` defaults to the process environment. An override of ``None`` means "not given"
    (a CLI flag left out). Raises ``ConfigError`` naming the variable or field that is wrong.
    """
    environ = os.environ if env is None else env
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = environ.get(setting.env)
        if raw is None or raw == "":
            continue
        try:
            values[setting.name] = setting.parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{setting.env}: {exc}") from exc
    known = {field.name for field in fields(Settings)}
    parsers = {setting.name: setting.parse for setting in SETTINGS}
    for name, value in (overrides or {}).items():
        if name not in known:
            raise ConfigError(f"{name}: not a setting")
        if value is None:
            continue
        try:
            values[name] = parsers[name](value) if isinstance(value, str) else value
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}") from exc
    return check_combination(replace(Settings(), **values))
