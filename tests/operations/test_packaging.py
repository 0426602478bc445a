"""The Dockerfile, compose.yaml and the systemd unit install and start a server that is ready.

No image can be built here, so the files' own steps are run as they are written: the
Dockerfile's install step (``packaging/install``) in a fresh virtual environment, then its
``CMD`` with its ``ENV``, its ``HEALTHCHECK`` against the started process, the same with the
settings of ``compose.yaml`` on PostgreSQL, and the unit's ``ExecStart`` with its
``Environment=``, which ``systemd-analyze`` verifies.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from postgres_db import fresh_schema
from support.ports import free_port
from support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
IMAGE_PREFIX = "/opt/audience"


@dataclass(frozen=True)
class Dockerfile:
    """The instructions of a Dockerfile, each with its arguments, continuations joined."""

    instructions: list[tuple[str, str]]

    @classmethod
    def read(cls, path: Path) -> Dockerfile:
        text = re.sub(r"\\\n", " ", path.read_text())
        instructions = []
        for line in text.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                keyword, _, rest = line.partition(" ")
                instructions.append((keyword.upper(), rest.strip()))
        return cls(instructions)

    def all(self, keyword: str) -> list[str]:
        return [rest for name, rest in self.instructions if name == keyword]

    def last(self, keyword: str) -> str:
        return self.all(keyword)[-1]

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for rest in self.all("ENV"):
            for pair in shlex.split(rest):
                name, _, value = pair.partition("=")
                values[name] = value
        return values

    def exec_form(self, keyword: str) -> list[str]:
        rest = self.last(keyword)
        if keyword == "HEALTHCHECK":
            rest = rest[rest.index("CMD ") + len("CMD ") :]
        argv: list[str] = json.loads(rest)
        return argv


DOCKERFILE = Dockerfile.read(ROOT / "Dockerfile")


def unit_entries(path: Path) -> list[tuple[str, str]]:
    """The ``key=value`` lines of a systemd unit, in order (keys may repeat)."""
    entries = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            entries.append((key, value))
    return entries


@pytest.fixture(scope="module")
def prefix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Dockerfile's install step, run in a fresh virtual environment instead of the image's."""
    (step,) = [run for run in DOCKERFILE.all("RUN") if "packaging/install" in run]
    workdir = next(rest for name, rest in DOCKERFILE.instructions if name == "WORKDIR")
    target = tmp_path_factory.mktemp("image") / "opt-audience"
    argv = [
        str(target) if word == IMAGE_PREFIX else str(ROOT) if word == workdir else word
        for word in shlex.split(step)
    ]
    argv[0] = str(ROOT / argv[0])
    subprocess.run(argv, check=True, timeout=600, env={**os.environ, "PYTHON": sys.executable})
    return target


def _in_prefix(words: list[str], prefix: Path) -> list[str]:
    return [word.replace(IMAGE_PREFIX, str(prefix)) for word in words]


@contextlib.contextmanager
def started(argv: list[str], settings: Mapping[str, str], log: Path) -> Iterator[str]:
    """Run ``argv`` with only ``settings`` for ``AUDIENCE_*``; yield its URL once ``/readyz``
    answers 200; stop it with SIGTERM as docker and systemd do."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("AUDIENCE_")}
    env.update(settings)
    url = f"http://127.0.0.1:{settings['AUDIENCE_PORT']}"
    with log.open("wb") as output:
        process = subprocess.Popen(argv, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:

        def ready() -> bool:
            assert process.poll() is None, log.read_text()
            with contextlib.suppress(httpx.TransportError):
                return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
            return False

        wait_for(ready, 60, "a 200 from /readyz")
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log.read_text()


def test_the_image_is_slim_runs_as_a_user_and_keeps_its_data_in_a_volume() -> None:
    assert re.fullmatch(r"python:3\.1[1-9]-slim", DOCKERFILE.all("FROM")[0])
    assert DOCKERFILE.last("USER") not in ("root", "0")
    data = DOCKERFILE.env()["AUDIENCE_DATA_DIR"]
    assert json.loads(DOCKERFILE.last("VOLUME")) == [data]
    assert DOCKERFILE.exec_form("CMD")[-1] == "serve"
    assert any("/readyz" in word for word in DOCKERFILE.exec_form("HEALTHCHECK"))


def test_the_dockerfile_s_steps_start_a_server_its_healthcheck_finds_ready(
    prefix: Path, tmp_path: Path
) -> None:
    port = str(free_port())
    settings = {
        **DOCKERFILE.env(),
        "AUDIENCE_DATA_DIR": str(tmp_path / "data"),
        "AUDIENCE_PORT": port,
    }
    healthcheck = [
        word.replace(":8000/", f":{port}/")
        for word in _in_prefix(DOCKERFILE.exec_form("HEALTHCHECK"), prefix)
    ]
    log = tmp_path / "serve.log"
    with started(_in_prefix(DOCKERFILE.exec_form("CMD"), prefix), settings, log) as url:
        assert subprocess.run(healthcheck, timeout=30, check=False).returncode == 0
        health = httpx.get(f"{url}/healthz", timeout=5).json()
        assert health["status"] == "ok"
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert {line["role"] for line in lines} == {"collector", "resolver", "dispatcher"}


def test_compose_runs_the_image_on_postgresql_and_its_settings_start_a_ready_server(
    prefix: Path, tmp_path: Path
) -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    service = compose["services"]["audience"]
    assert service["build"] == "."
    assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert compose["services"]["postgres"]["image"].startswith("postgres:")
    assert "healthcheck" in compose["services"]["postgres"]
    data = DOCKERFILE.env()["AUDIENCE_DATA_DIR"]
    assert any(volume.endswith(":" + data) for volume in service["volumes"])
    environment = service["environment"]
    assert environment["AUDIENCE_DATABASE_URL"].startswith("postgresql://audience:")
    assert "@postgres:5432/audience" in environment["AUDIENCE_DATABASE_URL"]
    workers = re.fullmatch(r"\$\{AUDIENCE_WORKERS:-(\d+)\}", environment["AUDIENCE_WORKERS"])
    assert workers is not None
    with fresh_schema() as database_url:
        settings = {
            **DOCKERFILE.env(),
            "AUDIENCE_DATA_DIR": str(tmp_path / "data"),
            "AUDIENCE_PORT": str(free_port()),
            "AUDIENCE_DATABASE_URL": database_url,
            "AUDIENCE_WORKERS": workers.group(1),
        }
        argv = _in_prefix(DOCKERFILE.exec_form("CMD"), prefix)
        with started(argv, settings, tmp_path / "serve.log") as url:
            ready = httpx.get(f"{url}/readyz", timeout=5).json()
            assert ready["status"] == "ready"
            assert set(ready["children"]) == {"resolver", "dispatcher"}


def test_the_systemd_unit_verifies_is_hardened_and_its_exec_start_serves(
    prefix: Path, tmp_path: Path
) -> None:
    unit = (ROOT / "packaging" / "audience.service").read_text()
    local = tmp_path / "audience.service"
    local.write_text(unit.replace(IMAGE_PREFIX, str(prefix)))
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(local)], capture_output=True, text=True, timeout=60
    )
    assert (verify.returncode, verify.stderr) == (0, "")
    security = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--no-pager", str(local)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    exposure = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", security.stdout)
    assert exposure is not None, security.stdout + security.stderr
    assert float(exposure.group(1)) <= 2.0, security.stdout

    entries = unit_entries(local)
    values = dict(entries)
    assert values["NoNewPrivileges"] == "yes"
    assert values["ProtectSystem"] == "strict"
    assert values["DynamicUser"] == "yes"
    environment = dict(value.split("=", 1) for key, value in entries if key == "Environment")
    assert values["StateDirectory"] == "audience"
    assert environment["AUDIENCE_DATA_DIR"] == "/var/lib/audience"
    settings = {
        **environment,
        "AUDIENCE_DATA_DIR": str(tmp_path / "data"),
        "AUDIENCE_PORT": str(free_port()),
    }
    with started(shlex.split(values["ExecStart"]), settings, tmp_path / "serve.log") as url:
        assert httpx.get(f"{url}/healthz", timeout=5).json()["status"] == "ok"
