"""A real ``audience serve`` whose children are killed, frozen or kept from starting, and
which is stopped by signals under load."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from audience.config import load_settings
from audience.destinations.backend import open_delivery_store
from audience.destinations.base import DestinationConfig, DestinationPolicy
from audience.http.shutdown import SHUTDOWN_BOUND
from audience.storage.backend import open_event_store
from interop.fixtures import ServerFactory
from support import AudienceServer, Receiver, wait_for

from .support import alive
from .traffic import Senders

WRITE_KEY = "wk_supervision_web"
ADMIN_TOKEN = "supervision-admin-token-of-the-tests"
PROMPT = 5.0
"""Seconds within which every request must be answered while children die or freeze."""


def start_collector(
    factory: ServerFactory,
    *,
    database_url: str | None = None,
    webhook: str | None = None,
    env: dict[str, str] | None = None,
) -> AudienceServer:
    """``audience serve`` with one source, and a webhook destination when ``webhook`` is set."""
    variables = dict(env or {})
    if database_url is not None:
        variables["AUDIENCE_DATABASE_URL"] = database_url
    server = factory(
        sources={"web": WRITE_KEY}, admin_token=ADMIN_TOKEN, env=variables, start=False
    )
    if webhook is not None:
        settings = load_settings(
            env={}, overrides={"data_dir": server.data_dir, "database_url": database_url}
        )
        state = open_delivery_store(settings)
        delivery = DestinationPolicy(initial_backoff=0.05, max_backoff=0.5, batch_size=50)
        options = {"url": webhook, "secret": "s" * 32}
        state.add(DestinationConfig("hook", "webhook", options, delivery=delivery), 0, 0.0)
        state.close()
    server.start()
    return server


def readyz(server: AudienceServer) -> tuple[int, dict[str, Any]]:
    answer = httpx.get(f"{server.url}/readyz", timeout=5)
    return answer.status_code, answer.json()


def child(server: AudienceServer, name: str) -> dict[str, Any]:
    body = readyz(server)[1]
    found: dict[str, Any] = body["children"][name]
    return found


def running_child(server: AudienceServer, name: str) -> dict[str, Any] | None:
    found = child(server, name)
    return found if found["state"] == "running" else None


def replaced(server: AudienceServer, name: str, old_pid: int) -> dict[str, Any] | None:
    """The child ``name`` once a process other than ``old_pid`` runs it."""
    found = running_child(server, name)
    return found if found is not None and found["pid"] != old_pid else None


def stored_ids(server: AudienceServer, database_url: str | None) -> list[str]:
    settings = load_settings(
        env={}, overrides={"data_dir": server.data_dir, "database_url": database_url}
    )
    with open_event_store(settings) as store:
        return [event.message["messageId"] for event in store.read_after(0, 10_000_000)]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    hook.start()
    yield hook
    hook.stop()


def test_killing_the_resolver_then_the_dispatcher_under_load_loses_nothing(
    audience_server_factory: ServerFactory, receiver: Receiver, database_url: str | None
) -> None:
    """kill -9 as the OOM killer does: requests keep being answered, new children take over
    from the committed cursors, and profiles and webhook deliveries catch up."""
    server = start_collector(
        audience_server_factory, database_url=database_url, webhook=receiver.url
    )
    resolver = wait_for(lambda: running_child(server, "resolver"), what="the resolver's start")
    dispatcher = wait_for(lambda: running_child(server, "dispatcher"), what="a dispatcher")
    senders = Senders(server.url, WRITE_KEY)
    senders.start()
    try:
        senders.wait_for_more(400)
        os.kill(resolver["pid"], signal.SIGKILL)
        senders.wait_for_more(200)
        new_resolver = wait_for(
            lambda: replaced(server, "resolver", resolver["pid"]), what="a new resolver"
        )
        senders.wait_for_more(400)
        os.kill(dispatcher["pid"], signal.SIGKILL)
        senders.wait_for_more(200)
        new_dispatcher = wait_for(
            lambda: replaced(server, "dispatcher", dispatcher["pid"]), what="a new dispatcher"
        )
        senders.wait_for_more(400)
    finally:
        senders.stop()
    assert senders.failures == []
    assert senders.slowest < PROMPT
    for restarted, pid in ((new_resolver, resolver["pid"]), (new_dispatcher, dispatcher["pid"])):
        assert restarted["restarts"] == 1
        assert restarted["lastExit"]["signal"] == "SIGKILL"
        assert not alive(pid)

    acknowledged = set(senders.acknowledged)

    def caught_up() -> bool:
        status, body = readyz(server)
        children = body["children"]
        return (
            status == 200
            and children["resolver"]["lag"] == 0
            and children["dispatcher"]["lag"] == {"hook": 0}
            and set(receiver.message_ids()) >= acknowledged
        )

    wait_for(caught_up, seconds=120, what="profiles and deliveries catching up")
    with server.admin() as admin:
        for user, events in senders.per_user.items():
            found = admin.http.get("/api/profiles/lookup", params={"userId": user})
            assert found.status_code == 200, found.text
            assert found.json()["profile"]["eventCount"] == events
    log = server.log()
    assert f"child resolver (pid {resolver['pid']}) was killed by SIGKILL" in log
    assert f"child dispatcher (pid {dispatcher['pid']}) was killed by SIGKILL" in log
    server.stop()
    stored = stored_ids(server, database_url)
    assert len(stored) == len(set(stored))
    assert set(stored) == acknowledged


def test_a_frozen_resolver_holds_up_no_request_and_readyz_shows_its_lag(
    audience_server_factory: ServerFactory,
) -> None:
    """SIGSTOP the resolver: every commit still wakes it without waiting, and its lag grows."""
    server = start_collector(audience_server_factory)
    resolver = wait_for(lambda: running_child(server, "resolver"), what="the resolver's start")
    os.kill(resolver["pid"], signal.SIGSTOP)
    try:
        senders = Senders(server.url, WRITE_KEY, clients=2)
        senders.start()
        try:
            senders.wait_for_more(1000)
        finally:
            senders.stop()
        assert senders.failures == []
        assert senders.slowest < PROMPT
        sent = senders.count()

        def lagging() -> dict[str, Any] | None:
            status, body = readyz(server)
            lag = body["children"]["resolver"]["lag"]
            return body if status == 200 and lag is not None and lag >= sent else None

        body = wait_for(lagging, what="the resolver's lag in /readyz")
        assert body["children"]["resolver"]["state"] == "running"
        assert body["children"]["resolver"]["pid"] == resolver["pid"]
        assert body["events"]["lastSeq"] == sent
    finally:
        os.kill(resolver["pid"], signal.SIGCONT)
    wait_for(lambda: child(server, "resolver")["lag"] == 0, what="the resolver catching up")


@contextmanager
def write_lock(database: Path) -> Iterator[None]:
    """Hold the SQLite database's write lock, as another program writing to it would."""
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_readyz_is_503_while_a_child_cannot_start_and_200_once_it_runs_again(
    audience_server_factory: ServerFactory,
) -> None:
    """A new resolver cannot open the event log while another program holds its write lock."""
    server = start_collector(audience_server_factory, env={"AUDIENCE_CHILD_DOWN_LIMIT": "2"})
    resolver = wait_for(lambda: running_child(server, "resolver"), what="the resolver's start")
    # The dispatcher too opens the event log as it starts: let it be up before the lock is held.
    wait_for(lambda: running_child(server, "dispatcher"), what="the dispatcher's start")
    assert readyz(server)[0] == 200
    with write_lock(server.data_dir / "events.sqlite3"):
        os.kill(resolver["pid"], signal.SIGKILL)

        def unready() -> dict[str, Any] | None:
            status, body = readyz(server)
            return body if status == 503 else None

        body = wait_for(unready, seconds=20, what="a 503 from /readyz")
        (problem,) = body["problems"]
        assert problem.startswith("child resolver has been down for ")
        assert body["children"]["resolver"]["state"] in ("starting", "restarting")
        assert body["children"]["resolver"]["lastExit"]["signal"] == "SIGKILL"
        assert body["children"]["dispatcher"]["state"] == "running"
        assert body["events"]["canCommit"] is True
    recovered = wait_for(
        lambda: (answer := readyz(server))[0] == 200 and answer[1], seconds=40, what="recovery"
    )
    assert recovered["children"]["resolver"]["state"] == "running"
    assert recovered["children"]["resolver"]["pid"] != resolver["pid"]


def test_readyz_is_503_while_the_store_cannot_commit_and_200_once_it_can(
    audience_server_factory: ServerFactory,
) -> None:
    server = start_collector(audience_server_factory)
    event = {"type": "track", "event": "Blocked", "userId": "u1"}
    answers: list[int] = []
    with write_lock(server.data_dir / "events.sqlite3"):
        waiting = threading.Thread(
            target=lambda: answers.append(
                httpx.post(
                    f"{server.url}/v1/track", json=event, auth=(WRITE_KEY, ""), timeout=30
                ).status_code
            )
        )
        waiting.start()

        def unready() -> dict[str, Any] | None:
            status, body = readyz(server)
            return body if status == 503 else None

        body = wait_for(unready, seconds=20, what="a 503 from /readyz")
        assert body["events"]["canCommit"] is False
        assert any("append" in problem or "commit" in problem for problem in body["problems"])
    waiting.join(30)
    assert answers, "the request was left hanging"
    assert answers[0] in (200, 503)  # committed late, or refused with Retry-After
    sent = httpx.post(f"{server.url}/v1/track", json=event, auth=(WRITE_KEY, ""), timeout=30)
    assert sent.status_code == 200
    wait_for(lambda: readyz(server)[0] == 200, what="a 200 from /readyz")


def stop_under_load(server: AudienceServer, send_signal: Any) -> tuple[Senders, float, int]:
    """Send ``send_signal(pid)`` while senders post; how long the exit took, and its code."""
    assert server.process is not None
    children = [child(server, name)["pid"] for name in ("resolver", "dispatcher")]
    senders = Senders(server.url, WRITE_KEY, until_refused=True)
    senders.start()
    senders.wait_for_more(500)
    started = time.monotonic()
    send_signal(server.process.pid)
    code = server.process.wait(SHUTDOWN_BOUND * 2)
    took = time.monotonic() - started
    senders.stop()
    for pid in children:
        assert not alive(pid)
    return senders, took, code


def test_sigterm_to_the_process_group_under_load_stops_everything_in_bound_and_keeps_every_ack(
    audience_server_factory: ServerFactory,
) -> None:
    """What systemd and container runtimes send: the children get it as well."""
    server = start_collector(audience_server_factory)
    wait_for(lambda: running_child(server, "resolver") and running_child(server, "dispatcher"))
    senders, took, code = stop_under_load(
        server, lambda pid: os.killpg(os.getpgid(pid), signal.SIGTERM)
    )
    assert code == 0
    assert took <= SHUTDOWN_BOUND
    assert senders.acknowledged <= set(stored_ids(server, None))
    assert "restarted child" not in server.log()


def test_sigint_to_the_server_process_alone_under_load_stops_it_and_its_children(
    audience_server_factory: ServerFactory,
) -> None:
    server = start_collector(audience_server_factory)
    wait_for(lambda: running_child(server, "resolver") and running_child(server, "dispatcher"))
    senders, took, code = stop_under_load(server, lambda pid: os.kill(pid, signal.SIGINT))
    assert code == 0
    assert took <= SHUTDOWN_BOUND
    assert senders.acknowledged <= set(stored_ids(server, None))
    log = server.log()
    assert "child resolver (pid" in log
    assert "stopped: it exited with code 0" in log
    assert "restarted child" not in log
