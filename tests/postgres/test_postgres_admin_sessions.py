"""Admin sessions on PostgreSQL are shared by every collector process on the database."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from audience.http.admin_guard import SESSION_COOKIE
from interop.fixtures import ServerFactory
from postgres_db import fresh_schema
from support import AudienceServer

GENERATED = re.compile(r"^admin token: (\S+)  \(generated now", re.MULTILINE)


@pytest.fixture
def two_hosts(
    audience_server_factory: ServerFactory,
) -> Iterator[tuple[AudienceServer, AudienceServer]]:
    """Two ``audience serve`` processes, as on two hosts, on one PostgreSQL schema.

    ``AUDIENCE_ADMIN_TOKEN`` is empty, so the first start generates the token in the database.
    """
    with fresh_schema() as url:
        env = {"AUDIENCE_DATABASE_URL": url, "AUDIENCE_ADMIN_TOKEN": ""}
        first = audience_server_factory(sources={"host-1": "wk_host_1"}, env=env)
        second = audience_server_factory(sources={"host-2": "wk_host_2"}, env=env)
        yield first, second
        audience_server_factory.stop_all()


def test_a_session_made_on_one_process_works_on_another_until_it_logs_out(
    two_hosts: tuple[AudienceServer, AudienceServer],
) -> None:
    first, second = two_hosts
    match = GENERATED.search(first.log())
    assert match is not None, first.log()
    token = match.group(1)
    assert token not in second.log()
    assert "kept in the PostgreSQL table meta" in second.log()
    login = httpx.post(f"{first.url}/login", data={"token": token})
    assert login.status_code == 303
    cookie = {"Cookie": f"{SESSION_COOKIE}={login.cookies[SESSION_COOKIE]}"}
    assert httpx.get(f"{second.url}/api/stats", headers=cookie).status_code == 200
    assert httpx.get(f"{second.url}/sources", headers=cookie).status_code == 200
    assert httpx.post(f"{second.url}/logout", headers=cookie).status_code == 303
    assert httpx.get(f"{first.url}/api/stats", headers=cookie).status_code == 401
    page = httpx.get(f"{first.url}/sources", headers=cookie)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login")
