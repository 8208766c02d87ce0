"""`python -m studio doctor`: what is missing, and how to fix it."""

from __future__ import annotations

import asyncio
import io
import os
import stat
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PIL import Image
from sqlalchemy.exc import SQLAlchemyError

from services.backends import BackendMonitor
from services.datasets.triage import LocalTriage, TriageThresholds
from services.toolchain import INSTALL_HINT, probe_media_tools
from studio import migrate
from studio.config import Settings
from studio.db import Database, DatabaseConfigError
from studio.events import EventBus
from studio.secrets import SecretStore

Level = Literal["ok", "warn", "fail", "skip"]


@dataclass(frozen=True)
class Check:
    name: str
    level: Level
    detail: str
    fix: str = ""


def check_data_dir(data_dir: Path) -> list[Check]:
    if not data_dir.exists():
        parent = next((p for p in data_dir.parents if p.exists()), Path("/"))
        if os.access(parent, os.W_OK):
            return [Check("data folder", "ok", f"{data_dir} will be created at first start")]
        return [
            Check(
                "data folder",
                "fail",
                f"{data_dir} does not exist and {parent} is not writable",
                f"create it: mkdir -p {data_dir} && chown $USER {data_dir}",
            )
        ]
    checks: list[Check] = []
    try:
        with tempfile.NamedTemporaryFile(dir=data_dir, prefix=".doctor-"):
            pass
    except OSError as exc:
        return [
            Check(
                "data folder",
                "fail",
                f"{data_dir} is not writable: {exc.strerror}",
                f"give this user write access: chown -R $USER {data_dir}",
            )
        ]
    mode = stat.S_IMODE(data_dir.stat().st_mode)
    if mode & 0o077:
        checks.append(
            Check("data folder", "warn", f"{data_dir} is open to other users (mode {mode:o})", f"chmod 700 {data_dir}")
        )
    else:
        checks.append(Check("data folder", "ok", f"{data_dir} is writable and private"))
    for key in sorted((data_dir / "secrets").glob("*.key")):
        key_mode = stat.S_IMODE(key.stat().st_mode)
        if key_mode & 0o077:
            checks.append(
                Check(f"key {key.name}", "fail", f"{key} is readable by others (mode {key_mode:o})", f"chmod 600 {key}")
            )
    return checks


async def check_database(settings: Settings, secrets: SecretStore) -> Check:
    try:
        db = Database(settings.effective_database_url, secrets.get("database_password"))
    except DatabaseConfigError as exc:
        return Check("database", "fail", str(exc), "fix STUDIO_DATABASE_URL")
    if db.kind == "sqlite" and not await asyncio.to_thread(Path(str(db.sync_url.database)).exists):
        return Check("database", "ok", f"{db.display_url} will be created at first start")
    try:
        await db.ping()
        current = migrate.current_revision(db)
    except (SQLAlchemyError, OSError) as exc:
        return Check(
            "database",
            "fail",
            f"{db.display_url} does not answer: {str(exc).splitlines()[0]}",
            "start the database server, or check the URL, user and password",
        )
    finally:
        await db.dispose()
    head = migrate.head_revision()
    if current != head:
        return Check(
            "database",
            "warn",
            f"{db.display_url} schema is at {current}, the code expects {head}",
            "run: python -m studio migrate (the studio also migrates at start)",
        )
    return Check("database", "ok", f"{db.display_url} at schema revision {current}")


async def check_triage_models() -> Check:
    """Load the bundled triage models and run them once on a drawing, as an ingest would."""
    picture = io.BytesIO()
    Image.new("RGB", (512, 512), (200, 180, 160)).save(picture, "PNG")
    started = time.perf_counter()
    try:
        result = await asyncio.to_thread(LocalTriage().assess, picture.getvalue(), TriageThresholds())
    except Exception as exc:  # any failure here means ingests will fail the same way: report, don't crash
        return Check("triage models", "fail", f"{type(exc).__name__}: {exc}", "reinstall: scripts/setup.sh")
    seconds = time.perf_counter() - started
    return Check(
        "triage models",
        "ok",
        f"NSFW score and anime face detector ran in {seconds:.2f} s ({len(result.values)} values)",
    )


async def run_checks(settings: Settings) -> list[Check]:
    checks = check_data_dir(settings.data_dir)
    for tool in await probe_media_tools():
        if tool.available:
            checks.append(Check(tool.name, "ok", f"{tool.version} at {tool.path}"))
        else:
            checks.append(Check(tool.name, "fail", f"{tool.name} not found on PATH", INSTALL_HINT))
    secrets = SecretStore.load(settings)
    if settings.vault_addr:
        if secrets.vault_error:
            checks.append(Check("vault", "fail", secrets.vault_error, "see the message; or unset STUDIO_VAULT_ADDR"))
        else:
            names = ", ".join(sorted(secrets.vault_values)) or "no keys"
            checks.append(Check("vault", "ok", f"read {settings.vault_mount}/{settings.vault_path}: {names}"))
    checks.append(await check_database(settings, secrets))
    checks.append(await check_triage_models())
    monitor = BackendMonitor(settings, secrets, EventBus())
    for status in await monitor.probe_all():
        if status.kind == "vault":
            continue  # reported above, with the secret read itself
        level: Level = {"ok": "ok", "down": "warn", "not_configured": "skip"}[status.state]
        fix = status.detail if status.state != "ok" else ""
        where = f" at {status.url}" if status.url else ""
        summary = f"{status.label}{where}: " + (
            f"version {status.version or '?'}; {status.detail}"
            if status.state == "ok"
            else status.state.replace("_", " ")
        )
        checks.append(Check(status.key, level, summary, fix))
    return checks


MARK = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL", "skip": "--  "}


def print_report(checks: list[Check]) -> None:
    for check in checks:
        print(f"[{MARK[check.level]}] {check.name}: {check.detail}")
        if check.fix:
            print(f"         fix: {check.fix}")
    failed = sum(c.level == "fail" for c in checks)
    warned = sum(c.level == "warn" for c in checks)
    print(f"\n{failed} failed, {warned} warning(s), {len(checks)} checks")
