"""`python -m studio ...` as a user runs it: a real process, real database, real fake services."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from sqlalchemy.engine import make_url

from studio import migrate
from tests.fakes import FakeComfyUI
from tests.studio_process import REPO


def studio_cli(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("STUDIO_")}
    return subprocess.run(
        [sys.executable, "-m", "studio", *args],
        env={**base, **env},
        cwd=REPO,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_migrate_creates_the_schema_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    done = studio_cli("migrate", env={"STUDIO_DATA_DIR": str(tmp_path), "STUDIO_DATABASE_URL": postgres_url})
    assert done.returncode == 0, done.stderr
    assert f"schema at revision {migrate.head_revision()}" in done.stdout
    assert done.stdout.startswith("postgresql+psycopg://")
    password = make_url(postgres_url).password
    if password:  # ./run-tests gives the test role one; it must never be printed
        assert password not in done.stdout and "***" in done.stdout


def test_doctor_reports_what_works_and_how_to_fix_the_rest(tmp_path: Path) -> None:
    with FakeComfyUI() as comfyui:
        env = {
            "STUDIO_DATA_DIR": str(tmp_path / "data"),
            "STUDIO_DEVICES": json.dumps(
                [{"name": "rtx3060", "comfyui_url": comfyui.url, "llm_url": "http://127.0.0.1:9"}]
            ),
        }
        assert studio_cli("migrate", env=env).returncode == 0
        done = studio_cli("doctor", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "[ok  ] ffmpeg:" in out
    assert "[ok  ] triage models: NSFW score and anime face detector ran" in out
    assert "[ok  ] database: sqlite:///" in out and f"revision {migrate.head_revision()}" in out
    assert "[ok  ] data folder:" in out and "private" in out
    assert "[ok  ] comfyui@rtx3060: ComfyUI at " in out and "version 0.3.64" in out
    assert "[WARN] llm@rtx3060:" in out and "fix:" in out
    assert "[--  ] jellyfin:" in out


def test_doctor_fails_with_a_fix_when_the_database_is_unusable(tmp_path: Path) -> None:
    env = {"STUDIO_DATA_DIR": str(tmp_path), "STUDIO_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/none"}
    done = studio_cli("doctor", env=env)
    assert done.returncode == 1
    assert "[FAIL] database:" in done.stdout and "does not answer" in done.stdout
    assert "fix: start the database server" in done.stdout


def test_doctor_flags_a_key_readable_by_others(tmp_path: Path) -> None:
    env = {"STUDIO_DATA_DIR": str(tmp_path / "data")}
    assert studio_cli("migrate", env=env).returncode == 0
    key = tmp_path / "data" / "secrets" / "jwt.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    key.chmod(0o644)
    done = studio_cli("doctor", env=env)
    assert done.returncode == 1 and "[FAIL] key jwt.key" in done.stdout and "chmod 600" in done.stdout


def test_invalid_settings_are_explained_not_a_traceback(tmp_path: Path) -> None:
    done = studio_cli("migrate", env={"STUDIO_DATA_DIR": str(tmp_path), "STUDIO_TRUSTED_NETWORKS": "10.0.0.0/40"})
    assert done.returncode == 2
    assert "settings are invalid" in done.stderr and "CIDR" in done.stderr
    assert "Traceback" not in done.stderr


def test_user_add_refuses_a_taken_name(tmp_path: Path) -> None:
    env = {"STUDIO_DATA_DIR": str(tmp_path)}
    first = studio_cli("user", "add", "aiko", "--password-stdin", env=env, stdin="correct horse battery\n")
    assert first.returncode == 0, first.stderr
    again = studio_cli("user", "add", "aiko", "--password-stdin", env=env, stdin="another password\n")
    assert again.returncode == 1 and "already exists" in again.stderr
