"""Exports of the event log: JSON lines, CSV or Parquet, written page by page in ``seq`` order.

The log is read through ``EventQuery.read_range`` one page at a time and each page is written
before the next is read, so memory stays flat however many events there are.

- **JSON lines**: each stored message as it is kept (wire names), one a line; ``audience
  replay`` imports such a file again.
- **CSV** and **Parquet**: the fixed columns of ``COLUMNS``. The message's top-level fields
  that every event may have get a column each (snake_case, as in the warehouses);
  ``properties``, ``traits`` and ``context`` are JSON text; ``other`` holds every other
  top-level field as one JSON object (``integrations``, ``originalTimestamp`` ...), so nothing
  of the message is lost. A missing value is an empty cell (``null`` in Parquet); in Parquet
  ``seq`` is an integer and every other column a string.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, Final, Literal, Protocol

import orjson

from audience.errors import ConfigError
from audience.eventlog import StoredEvent
from audience.storage.base import EventQuery, EventRange

ExportFormat = Literal["jsonl", "csv", "parquet"]

FORMATS: Final[tuple[ExportFormat, ...]] = ("jsonl", "csv", "parquet")
"""The formats ``export`` writes."""

PAGE_SIZE: Final = 10_000
"""Events read (and written, a Parquet row group) at a time."""

FIELD_COLUMNS: Final = (
    ("type", "type"),
    ("messageId", "message_id"),
    ("timestamp", "timestamp"),
    ("receivedAt", "received_at"),
    ("sentAt", "sent_at"),
    ("userId", "user_id"),
    ("anonymousId", "anonymous_id"),
    ("event", "event"),
    ("name", "name"),
    ("groupId", "group_id"),
    ("previousId", "previous_id"),
)
"""The message's scalar fields with a column of their own: (wire name, column)."""

JSON_COLUMNS: Final = ("properties", "traits", "context")
"""The message's objects kept as JSON text, each in the column of its name."""

COLUMNS: Final = (
    "seq",
    "source",
    *(column for _, column in FIELD_COLUMNS),
    *JSON_COLUMNS,
    "other",
)
"""The CSV and Parquet columns, in order."""

_OWN_COLUMN: Final = frozenset([*(name for name, _ in FIELD_COLUMNS), *JSON_COLUMNS])


def row_of(event: StoredEvent) -> list[Any]:
    """The values of ``COLUMNS`` for ``event``: ``None`` where the message has no value."""
    message = event.message
    row: list[Any] = [event.seq, event.source]
    for name, _ in FIELD_COLUMNS:
        value = message.get(name)
        row.append(None if value is None else value if isinstance(value, str) else _json(value))
    for name in JSON_COLUMNS:
        value = message.get(name)
        row.append(None if value is None else _json(value))
    other = {name: value for name, value in message.items() if name not in _OWN_COLUMN}
    row.append(_json(other) if other else None)
    return row


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def pages(
    query: EventQuery, event_range: EventRange, page_size: int = PAGE_SIZE
) -> Iterator[list[StoredEvent]]:
    """The events of ``event_range`` a page at a time, in ``seq`` order."""
    after = 0
    while page := query.read_range(event_range, after, page_size):
        yield page
        after = page[-1].seq


class PageWriter(Protocol):
    """Writes pages of events to one output in one format."""

    def write(self, page: list[StoredEvent]) -> None:
        """Write ``page`` (events in ``seq`` order)."""
        ...

    def close(self) -> None:
        """Write what the format needs at the end; the output itself stays open."""
        ...


class JsonLinesWriter:
    """Each stored message on a line of its own."""

    def __init__(self, output: BinaryIO) -> None:
        self._output = output

    def write(self, page: list[StoredEvent]) -> None:
        self._output.write(b"".join(orjson.dumps(event.message) + b"\n" for event in page))

    def close(self) -> None:
        self._output.flush()


class CsvWriter:
    """A header of ``COLUMNS``, then one row an event (RFC 4180 quoting, UTF-8)."""

    def __init__(self, output: BinaryIO) -> None:
        self._text = io.TextIOWrapper(output, encoding="utf-8", newline="", write_through=True)
        self._csv = csv.writer(self._text)
        self._csv.writerow(COLUMNS)

    def write(self, page: list[StoredEvent]) -> None:
        self._csv.writerows(row_of(event) for event in page)

    def close(self) -> None:
        self._text.flush()
        self._text.detach()  # the caller closes the output


class ParquetWriter:
    """``COLUMNS`` in a Parquet file, one row group a page (pyarrow, the ``export`` extra)."""

    def __init__(self, output: BinaryIO) -> None:
        require_format("parquet")
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._pa = pa
        self._schema = pa.schema(
            [
                ("seq", pa.int64()),
                *((column, pa.string()) for column in COLUMNS[1:]),
            ]
        )
        self._writer = pq.ParquetWriter(output, self._schema, compression="zstd")

    def write(self, page: list[StoredEvent]) -> None:
        rows = [row_of(event) for event in page]
        columns = [[row[index] for row in rows] for index in range(len(COLUMNS))]
        self._writer.write_table(self._pa.Table.from_arrays(columns, schema=self._schema))

    def close(self) -> None:
        self._writer.close()


def require_format(export_format: ExportFormat) -> None:
    """Raise ``ConfigError`` when what ``export_format`` needs is not installed."""
    if export_format != "parquet":
        return
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            "the parquet format needs pyarrow: pip install 'audience[export]'"
        ) from exc


WRITERS: Final[dict[ExportFormat, Callable[[BinaryIO], PageWriter]]] = {
    "jsonl": JsonLinesWriter,
    "csv": CsvWriter,
    "parquet": ParquetWriter,
}


def export(
    query: EventQuery,
    event_range: EventRange,
    output: BinaryIO,
    export_format: ExportFormat,
    on_page: Callable[[StoredEvent], None] | None = None,
    page_size: int = PAGE_SIZE,
) -> int:
    """Write the events of ``event_range`` to ``output`` in ``export_format``; how many.

    ``on_page`` is called with each page's last event once the page is written (progress).
    """
    writer = WRITERS[export_format](output)
    written = 0
    for page in pages(query, event_range, page_size):
        writer.write(page)
        written += len(page)
        if on_page is not None:
            on_page(page[-1])
    writer.close()
    return written
