"""How every process of audience logs: plain lines for people, or one JSON object a line.

``configure`` sets the root logger of a process once, at its start: ``audience serve`` and
each of its collector workers, the resolver and dispatcher children, and the CLI commands
that run long. With ``json`` each line is an object with ``time`` (UTC, ISO 8601), ``level``,
``logger``, ``message``, ``role`` (``collector``, ``resolver``, ``dispatcher``, ``cli``),
``pid``, the ``requestId`` of the request it was logged for, the ``exception`` when there is
one, and every field passed as ``extra=``.

The request id lives in a context variable: the HTTP shell binds it for each request
(``audience.http.request_ids``), and everything the request runs, in its task or in the thread
pool, logs it.
"""

from __future__ import annotations

import contextvars
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Final

import orjson

PLAIN_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "audience_request_id", default=None
)
"""The id of the request being handled in this context, if any."""

_RECORD_FIELDS: Final = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "color_message"}  # uvicorn's copy of the message in colours
)


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON (see the module's doc for the keys)."""

    def __init__(self, role: str) -> None:
        super().__init__()
        self.role = role

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "role": self.role,
            "pid": record.process,
        }
        current = request_id.get()
        if current is not None:
            line["requestId"] = current
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and key not in line:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(line, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def formatter(log_format: str, role: str) -> logging.Formatter:
    """The formatter of ``log_format`` (``plain`` or ``json``) for a process of ``role``."""
    if log_format == "json":
        return JsonFormatter(role)
    return logging.Formatter(PLAIN_FORMAT)


def configure(level: str, log_format: str, role: str) -> None:
    """Send this process's records at ``level`` and above to stderr in ``log_format``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(log_format, role))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)


def uvicorn_log_config(level: str, log_format: str, role: str) -> dict[str, Any]:
    """``configure`` as uvicorn's ``log_config``: it applies it in every worker process it starts,
    and its own loggers write through the root's handler."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "audience": {
                "()": "audience.logs.formatter",
                "log_format": log_format,
                "role": role,
            }
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "audience",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        "loggers": {
            name: {"level": level.upper(), "handlers": [], "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }
