"""``/metrics`` read by Prometheus's own parser: counters, the writer's and children's gauges,
the resolver's lag, and the bearer token that can guard it."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from audience.config import load_settings
from audience.errors import ConfigError
from postgres_db import fresh_schema
from support.audience_server import AudienceServer
from support.ports import free_port
from support.waiting import wait_for

ADMIN_TOKEN = "a" * 40
METRICS_TOKEN = "m" * 40
WRITE_KEY = "wk_metrics_source_key"
ROLES = ("collector", "resolver", "dispatcher")


def scrape(
    url: str, token: str | None = None
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``/metrics`` by name and labels, as Prometheus reads them."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    reply = httpx.get(f"{url}/metrics", headers=headers, timeout=10)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(reply.text)
        for sample in family.samples
    }


def test_metrics_count_events_and_show_the_writer_the_children_and_the_resolver_lag(
    tmp_path: Path,
) -> None:
    server = AudienceServer(
        tmp_path / "data",
        tmp_path / "serve.log",
        admin_token=ADMIN_TOKEN,
        sources={"web": WRITE_KEY},
    )
    with server:
        batch = [{"type": "track", "userId": f"u{n}", "event": "E"} for n in range(5)]
        batch.append({"type": "track", "userId": "u9"})  # no event: refused
        sent = httpx.post(
            f"{server.url}/v1/batch", json={"batch": batch}, auth=(WRITE_KEY, ""), timeout=10
        )
        assert sent.status_code == 200
        samples = wait_for(
            lambda: (
                (found := scrape(server.url)).get(("audience_resolver_lag_events", ())) == 0
                and found.get(("audience_events_last_seq", ())) == 5
                and found
            ),
            30,
            "the resolver catching up",
        )
    assert samples[("audience_events_stored_total", (("source", "web"),))] == 5
    dropped = ("audience_events_dropped_total", (("reason", "missing_event"), ("source", "web")))
    assert samples[dropped] == 1
    assert samples[("audience_writer_queued_appends", ())] == 0
    assert samples[("audience_writer_failed_commits_in_a_row", ())] == 0
    for child in ("resolver", "dispatcher"):
        assert samples[("audience_child_up", (("child", child),))] == 1
        assert samples[("audience_child_restarts_total", (("child", child),))] == 0
    assert samples[("audience_http_requests_total", (("route", "batch"), ("status", "200")))] == 1


def test_a_metrics_token_keeps_metrics_from_everyone_without_it(tmp_path: Path) -> None:
    server = AudienceServer(
        tmp_path / "data",
        tmp_path / "serve.log",
        admin_token=ADMIN_TOKEN,
        env={"AUDIENCE_METRICS_TOKEN": METRICS_TOKEN},
    )
    with server:
        for headers in ({}, {"Authorization": "Bearer " + "x" * 40}, {"Authorization": "Basic x"}):
            refused = httpx.get(f"{server.url}/metrics", headers=headers, timeout=10)
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"] == 'Bearer realm="metrics"'
            assert "audience_" not in refused.text
        assert ("audience_child_up", (("child", "resolver"),)) in scrape(server.url, METRICS_TOKEN)


def test_a_short_metrics_token_is_refused_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="AUDIENCE_METRICS_TOKEN: a metrics token needs at least"):
        load_settings(env={"AUDIENCE_METRICS_TOKEN": "short"})


def samples_named(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str
) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: value for (found, labels), value in samples.items() if found == name}


def test_every_worker_of_serve_counts_into_the_same_metrics_and_each_process_reports_itself(
    tmp_path: Path,
) -> None:
    """With --workers 2 a scrape answered by either worker sees the counts of both, the
    children's own metrics (the dispatcher's dead letters), and the memory and CPU of every
    process."""
    with fresh_schema() as url:
        server = AudienceServer(
            tmp_path / "data",
            tmp_path / "serve.log",
            admin_token=ADMIN_TOKEN,
            sources={"web": WRITE_KEY},
            extra_args=["--workers", "2"],
            env={"AUDIENCE_DATABASE_URL": url},
        )
        server.create_sources()
        refusing = f"http://127.0.0.1:{free_port()}/hook"  # nobody listens: every batch fails
        server.run_command(
            ["destinations", "add", "hook", "--webhook", refusing, "--max-attempts", "1"]
        )
        with server:
            for number in range(40):  # a connection each: the kernel spreads them over both
                batch = [
                    {"type": "track", "userId": f"u{number}", "event": "E", "messageId": f"{n}"}
                    for n in range(number * 5, number * 5 + 5)
                ]
                sent = httpx.post(
                    f"{server.url}/v1/batch",
                    json={"batch": batch},
                    auth=(WRITE_KEY, ""),
                    timeout=10,
                )
                assert sent.status_code == 200
            stored = ("audience_events_stored_total", (("source", "web"),))
            hook = (("destination", "hook"),)
            dead_letters = ("audience_destination_dead_letter_events", hook)

            def settled() -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
                found = scrape(server.url)
                collectors = samples_named(found, "audience_process_resident_memory_bytes")
                roles = [dict(labels)["role"] for labels in collectors]
                done = (
                    found.get(stored) == 200
                    and found.get(("audience_resolver_lag_events", ())) == 0
                    and found.get(("audience_resolver_cursor", ())) == 200
                    and sorted(roles).count("collector") == 2
                    and roles.count("resolver") == 2
                    and roles.count("dispatcher") == 2
                    and found.get(dead_letters) == 200
                    and found.get(("audience_destination_pending_events", hook)) == 0
                    and found.get(("audience_destination_lag_events", hook)) == 0
                )
                return found if done else None

            samples = wait_for(settled, 60, "both workers and their children reporting")
            batch_requests = (
                "audience_http_requests_total",
                (("route", "batch"), ("status", "200")),
            )
            assert samples[batch_requests] == 40
            for _ in range(12):
                again = scrape(server.url)
                assert again[stored] == 200
                assert again[batch_requests] == 40
            pids = {
                dict(labels)["pid"]
                for labels in samples_named(samples, "audience_process_resident_memory_bytes")
            }
            assert len(pids) == 6
            assert samples[("audience_child_up", (("child", "resolver"),))] == 2
            assert samples[("audience_child_up", (("child", "dispatcher"),))] == 2
            assert samples[("audience_commit_duration_seconds_count", ())] >= 1
            assert samples[("audience_writer_queued_appends", ())] == 0
            assert all(
                value > 0
                for value in samples_named(samples, "audience_process_cpu_seconds").values()
            )


def test_a_killed_worker_and_its_children_drop_out_of_the_process_gauges(tmp_path: Path) -> None:
    """A worker SIGKILLed (never marked dead by anyone) leaves no figures behind: uvicorn starts
    another, and the scrape shows only the processes that run."""
    with fresh_schema() as url:
        server = AudienceServer(
            tmp_path / "data",
            tmp_path / "serve.log",
            admin_token=ADMIN_TOKEN,
            sources={"web": WRITE_KEY},
            extra_args=["--workers", "2"],
            env={"AUDIENCE_DATABASE_URL": url},
        )
        with server:

            def pids_by_role() -> dict[str, set[int]]:
                found: dict[str, set[int]] = {}
                for labels in samples_named(
                    scrape(server.url), "audience_process_resident_memory_bytes"
                ):
                    named = dict(labels)
                    found.setdefault(named["role"], set()).add(int(named["pid"]))
                return found

            def all_up() -> dict[str, set[int]] | None:
                found = pids_by_role()
                return found if all(len(found.get(role, ())) == 2 for role in ROLES) else None

            before = wait_for(all_up, 60, "both workers and their children reporting")
            killed = min(before["collector"])
            os.kill(killed, signal.SIGKILL)

            def replaced() -> dict[str, set[int]] | None:
                found = all_up()
                return found if found and killed not in found["collector"] else None

            after = wait_for(replaced, 60, "the killed worker replaced and forgotten")
            for role in ROLES:
                assert len(after[role]) == 2
                for pid in after[role]:
                    os.kill(pid, 0)  # every process the scrape shows runs
