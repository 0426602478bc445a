"""The ``audience destinations`` command line over a real data folder."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner, Result

from audience.cli import main
from audience.destinations.delivery_store import DeliveryStore

from .conftest import Append, track


def run(location: list[str], *arguments: str) -> Result:
    return CliRunner().invoke(main, ["destinations", *arguments, *location])


def test_adding_a_webhook_shows_its_generated_secret_once_and_lists_it_hidden(
    location: list[str],
) -> None:
    added = run(location, "add", "crm", "--webhook", "https://hooks.example.com/in")
    assert added.exit_code == 0, added.output
    secret = added.output.split("signing secret (shown once): ")[1].strip()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32

    listed = run(location, "list", "--json")
    (config,) = json.loads(listed.output)
    assert config["options"]["url"] == "https://hooks.example.com/in"
    assert config["options"]["secret"] == "***"
    assert secret not in listed.output
    assert config["delivery"]["batch_size"] == 100


def test_a_warehouse_destination_hides_the_password_of_its_url_and_loads_in_big_batches(
    location: list[str],
) -> None:
    url = "postgresql://loader:hunter2@db.example.com/analytics"
    assert run(location, "add", "dw", "--postgres", url, "--source", "web").exit_code == 0
    (config,) = json.loads(run(location, "list", "--json").output)
    assert config["options"]["url"] == "postgresql://loader:***@db.example.com/analytics"
    assert config["source"] == "web"
    assert config["delivery"]["batch_size"] == 1000


def test_add_needs_exactly_one_target_and_a_new_name(data_dir: Path, location: list[str]) -> None:
    assert run(location, "add", "x").exit_code == 2
    both = run(location, "add", "x", "--webhook", "http://a", "--duckdb", "w.duckdb")
    assert both.exit_code == 2
    assert run(location, "add", "x", "--duckdb", str(data_dir / "w.duckdb")).exit_code == 0
    again = run(location, "add", "x", "--duckdb", str(data_dir / "w.duckdb"))
    assert again.exit_code == 1
    assert "already exists" in again.output


def test_status_shows_the_lag_of_a_destination_and_start_now_skips_history(
    location: list[str], append: Append
) -> None:
    append([track(1), track(2), track(3)])
    assert run(location, "add", "all", "--webhook", "http://127.0.0.1:9/h").exit_code == 0
    added = run(location, "add", "new", "--webhook", "http://127.0.0.1:9/h", "--start", "now")
    assert added.exit_code == 0

    statuses = {item["name"]: item for item in json.loads(run(location, "status", "--json").output)}
    assert (statuses["all"]["cursor"], statuses["all"]["lag"]) == (0, 3)
    assert (statuses["new"]["cursor"], statuses["new"]["lag"]) == (3, 0)
    text = run(location, "status", "all")
    assert "all (webhook): cursor 0, lag 3" in text.output


def test_removing_a_destination_forgets_it(location: list[str]) -> None:
    assert run(location, "add", "crm", "--webhook", "http://127.0.0.1:9/h").exit_code == 0
    assert run(location, "remove", "crm").exit_code == 0
    assert run(location, "list").output.strip() == "no destinations"
    assert run(location, "remove", "crm").exit_code == 1


def test_only_one_dispatcher_at_a_time_works_on_a_state_database(
    open_delivery_store: Callable[[], DeliveryStore],
) -> None:
    """serve and a separate `destinations run` on one data folder never both deliver."""
    first = open_delivery_store()
    second = open_delivery_store()
    try:
        assert first.acquire_worker()
        assert not second.acquire_worker()
        first.release_worker()
        assert second.acquire_worker()
    finally:
        first.close()
        second.close()
