"""The admin token: long enough, printed only when it is made, shown and rotated by the CLI."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
from click.testing import CliRunner
from collector_support import ADMIN_TOKEN

from audience.cli import main
from audience.http.admin_guard import SESSION_COOKIE
from support import AudienceServer, free_port, wait_for

AUDIENCE = str(Path(sys.executable).with_name("audience"))
GENERATED = re.compile(r"^admin token: (\S+)  \(generated now", re.MULTILINE)


def cli(*args: str, token: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env={"AUDIENCE_ADMIN_TOKEN": token})
    return result.exit_code, result.output


def bearer(server: AudienceServer, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.get(f"{server.url}/api/stats", headers=headers).status_code


def test_a_short_admin_token_is_refused_at_start_naming_the_variable(tmp_path: Path) -> None:
    completed = subprocess.run(
        [AUDIENCE, "serve", "--data", str(tmp_path), "--port", str(free_port())],
        env={"AUDIENCE_ADMIN_TOKEN": "only-twenty-chars-xx", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 2
    assert "AUDIENCE_ADMIN_TOKEN: an admin token needs at least 32 characters" in completed.stderr
    assert "this one has 20" in completed.stderr
    assert not (tmp_path / "events.sqlite3").exists()


def test_the_token_is_printed_on_the_first_start_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = AudienceServer(data, tmp_path / "first.log")
    first.start()
    try:
        match = GENERATED.search(first.log())
        assert match is not None, first.log()
        token = match.group(1)
        assert len(token) >= 32
        assert bearer(first, token) == 200
    finally:
        first.stop()
    again = AudienceServer(data, tmp_path / "again.log")
    again.start()
    try:
        output = again.log()
        assert token not in output
        assert "admin token: kept in" in output
        assert "`audience admin token` prints it" in output
        assert "`audience admin token --rotate` replaces it" in output
        assert bearer(again, token) == 200
    finally:
        again.stop()
    assert cli("admin", "token", "--data", str(data)) == (0, f"{token}\n")


def test_a_token_from_the_environment_is_never_printed(tmp_path: Path) -> None:
    server = AudienceServer(tmp_path / "data", tmp_path / "serve.log", admin_token=ADMIN_TOKEN)
    server.start()
    server.stop()
    assert "admin token: from AUDIENCE_ADMIN_TOKEN" in server.log()
    assert ADMIN_TOKEN not in server.log()
    code, output = cli("admin", "token", "--data", str(server.data_dir), token=ADMIN_TOKEN)
    assert code == 1
    assert "set by AUDIENCE_ADMIN_TOKEN" in output
    assert ADMIN_TOKEN not in output
    code, output = cli(
        "admin", "token", "--rotate", "--data", str(server.data_dir), token=ADMIN_TOKEN
    )
    assert code == 1
    assert ADMIN_TOKEN not in output


def test_the_cli_says_where_there_is_no_token_yet(tmp_path: Path) -> None:
    code, output = cli("admin", "token", "--data", str(tmp_path))
    assert code == 1
    assert "no event store" in output


def test_rotating_the_token_ends_every_session_and_the_old_token_without_a_restart(
    tmp_path: Path,
) -> None:
    server = AudienceServer(tmp_path / "data", tmp_path / "serve.log")
    server.start()
    try:
        match = GENERATED.search(server.log())
        assert match is not None
        old = match.group(1)
        login = httpx.post(f"{server.url}/login", data={"token": old})
        assert login.status_code == 303
        session = {"Cookie": f"{SESSION_COOKIE}={login.cookies[SESSION_COOKIE]}"}
        assert httpx.get(f"{server.url}/api/stats", headers=session).status_code == 200
        code, output = cli("admin", "token", "--rotate", "--data", str(server.data_dir))
        assert code == 0
        new = output.splitlines()[0]
        assert new != old
        assert len(new) >= 32
        assert "ended 1 admin session(s)" in output
        assert httpx.get(f"{server.url}/api/stats", headers=session).status_code == 401
        wait_for(lambda: bearer(server, old) != 200, 20, "the old token's refusal", every=0.2)
        assert bearer(server, new) == 200
        assert cli("admin", "token", "--data", str(server.data_dir)) == (0, f"{new}\n")
    finally:
        server.stop()
