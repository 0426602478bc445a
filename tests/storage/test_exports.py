"""``audience events export``: every format written page by page in seq order, on both stores,
with the source and receivedAt window respected and the CSV and Parquet columns lossless."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from audience.cli import main
from audience.config import load_settings
from audience.storage import exports
from audience.storage.backend import EventStore, open_event_store
from audience.storage.base import EventRange, EventRecord
from postgres_db import fresh_schema

EVENTS = 57


@pytest.fixture(params=["sqlite", "postgres"])
def store_args(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[str]]:
    """The ``--data`` or ``--database-url`` arguments of a fresh store of each backend."""
    if request.param == "sqlite":
        yield ["--data", str(tmp_path / "data")]
        return
    with fresh_schema() as url:
        yield ["--database-url", url]


def opened(store_args: list[str]) -> EventStore:
    option, value = store_args
    key = "data_dir" if option == "--data" else "database_url"
    return open_event_store(load_settings(overrides={key: value}))


def message(number: int) -> dict[str, Any]:
    """Event ``number``: a track, an identify or a page, with the fields CSV spreads out."""
    received = f"2026-05-{1 + number // 10:02d}T10:00:{number % 60:02d}.000Z"
    common = {
        "messageId": f"m-{number}",
        "receivedAt": received,
        "timestamp": received,
        "sentAt": received,
        "anonymousId": f"a-{number % 5}",
        "context": {"ip": "127.0.0.1", "library": {"name": "test"}},
        "integrations": {"All": True},
    }
    if number % 3 == 0:
        return {
            **common,
            "type": "track",
            "event": 'Order, "Completed"\n',
            "properties": {"n": number},
        }
    if number % 3 == 1:
        return {**common, "type": "identify", "userId": f"u-{number}", "traits": {"plan": "pro"}}
    return {**common, "type": "page", "name": "Home", "properties": {"path": "/"}}  # fmt: skip


def fill(store: EventStore) -> list[dict[str, Any]]:
    """Store ``EVENTS`` events, every fourth of the source ``app``, the others of ``web``."""
    store.create_source("web")
    store.create_source("app")
    messages = [message(number) for number in range(EVENTS)]
    records = [
        EventRecord(
            "app" if number % 4 == 0 else "web",
            item["messageId"],
            item["type"],
            item.get("userId"),
            item.get("anonymousId"),
            item.get("event"),
            item["receivedAt"],
            item["timestamp"],
            "127.0.0.1",
            orjson.dumps(item),
        )
        for number, item in enumerate(messages)
    ]
    assert store.append(records).result(timeout=30).stored == EVENTS
    return messages


def export(store_args: list[str], tmp_path: Path, *args: str) -> Path:
    output = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["events", "export", *args, "--output", str(output), *store_args]
    )
    assert result.exit_code == 0, result.output
    return output


def from_columns(row: dict[str, Any]) -> dict[str, Any]:
    """The message a CSV or Parquet row was made of."""
    rebuilt: dict[str, Any] = {}
    for name, column in exports.FIELD_COLUMNS:
        if row[column] not in (None, ""):
            rebuilt[name] = row[column]
    for name in exports.JSON_COLUMNS:
        if row[name] not in (None, ""):
            rebuilt[name] = orjson.loads(row[name])
    if row["other"] not in (None, ""):
        rebuilt.update(orjson.loads(row["other"]))
    return rebuilt


def test_a_jsonl_export_holds_every_stored_message_in_seq_order(
    store_args: list[str], tmp_path: Path
) -> None:
    with opened(store_args) as store:
        messages = fill(store)
    lines = export(store_args, tmp_path).read_bytes().splitlines()
    assert [orjson.loads(line) for line in lines] == messages


def test_an_export_keeps_only_the_source_and_the_received_window_asked_for(
    store_args: list[str], tmp_path: Path
) -> None:
    with opened(store_args) as store:
        messages = fill(store)
    since, until = "2026-05-02T00:00:00Z", "2026-05-04T10:00:05+00:00"
    output = export(store_args, tmp_path, "--source", "web", "--since", since, "--until", until)
    expected = [
        item
        for number, item in enumerate(messages)
        if number % 4 != 0 and "2026-05-02" <= item["receivedAt"] < "2026-05-04T10:00:05"
    ]
    assert len(expected) > 10
    assert [orjson.loads(line) for line in output.read_bytes().splitlines()] == expected


def test_a_csv_export_has_the_documented_columns_and_loses_nothing_of_a_message(
    store_args: list[str], tmp_path: Path
) -> None:
    with opened(store_args) as store:
        messages = fill(store)
    text = export(store_args, tmp_path, "--format", "csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert list(rows[0]) == list(exports.COLUMNS)
    assert [int(row["seq"]) for row in rows] == sorted(int(row["seq"]) for row in rows)
    assert [row["source"] for row in rows] == [
        "app" if n % 4 == 0 else "web" for n in range(EVENTS)
    ]
    assert [from_columns(row) for row in rows] == messages


def test_a_parquet_export_reads_back_with_pyarrow_column_for_column(
    store_args: list[str], tmp_path: Path
) -> None:
    with opened(store_args) as store:
        messages = fill(store)
    table = pq.read_table(export(store_args, tmp_path, "--format", "parquet"))
    assert table.column_names == list(exports.COLUMNS)
    assert str(table.schema.field("seq").type) == "int64"
    rows = table.to_pylist()
    assert [row["seq"] for row in rows] == sorted(row["seq"] for row in rows)
    assert [from_columns(row) for row in rows] == messages


@pytest.mark.parametrize("export_format", exports.FORMATS)
def test_an_export_read_in_small_pages_equals_one_read_at_once(
    store_args: list[str], export_format: exports.ExportFormat
) -> None:
    written: list[bytes] = []
    with opened(store_args) as store:
        fill(store)
        for page_size in (7, exports.PAGE_SIZE):
            output = io.BytesIO()
            count = exports.export(store, EventRange(), output, export_format, page_size=page_size)
            assert count == EVENTS
            written.append(output.getvalue())
    if export_format == "parquet":
        tables = [pq.read_table(io.BytesIO(raw)).to_pylist() for raw in written]
        assert tables[0] == tables[1]
    else:
        assert written[0] == written[1]


def test_an_export_stops_at_the_position_it_was_given(store_args: list[str]) -> None:
    with opened(store_args) as store:
        fill(store)
        last = store.last_seq()
        output = io.BytesIO()
        assert exports.export(store, EventRange(last_seq=last - 3), output, "jsonl") == EVENTS - 3


def test_an_unreadable_since_or_an_unknown_source_is_refused_by_name(tmp_path: Path) -> None:
    data = ["--data", str(tmp_path / "data")]
    assert CliRunner().invoke(main, ["sources", "create", "web", *data]).exit_code == 0
    bad_time = CliRunner().invoke(main, ["events", "export", "--since", "yesterday", *data])
    assert bad_time.exit_code == 2
    assert "--since" in bad_time.output
    unknown = CliRunner().invoke(main, ["events", "export", "--source", "nope", *data])
    assert unknown.exit_code == 1
    assert "no source called 'nope'" in unknown.output


def test_a_parquet_export_without_pyarrow_says_which_extra_to_install(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert (
        CliRunner().invoke(main, ["sources", "create", "web", "--data", str(data)]).exit_code == 0
    )
    without_pyarrow = (
        "import sys; sys.modules['pyarrow'] = None; sys.modules['pyarrow.parquet'] = None; "
        "from audience.cli import main; main()"
    )
    completed = subprocess.run(
        [sys.executable, "-c", without_pyarrow, "events", "export", "--format", "parquet",
         "--output", str(tmp_path / "out.parquet"), "--data", str(data)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert completed.returncode == 1
    assert "pip install 'audience[export]'" in completed.stderr
    assert not (tmp_path / "out.parquet").exists()
