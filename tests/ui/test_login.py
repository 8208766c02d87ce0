"""A client that is not on a trusted network must log in; the full NiceGUI stack decides."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx
from nicegui import core, ui
from nicegui.testing import User

REPO = Path(__file__).resolve().parents[2]
REMOTE = ("203.0.113.9", 41000)


async def studio_cli(*args: str, stdin: str = "") -> tuple[int, str]:
    """The real `python -m studio ...`, on the same data folder as the running app: (exit code, output)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "studio",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=REPO,
        env=os.environ.copy(),
    )
    out, _ = await asyncio.wait_for(proc.communicate(stdin.encode()), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def add_user_with_the_cli(name: str, password: str) -> None:
    code, out = await studio_cli("user", "add", name, "--password-stdin", stdin=password + "\n")
    assert code == 0 and f"user {name} added" in out, out


def log_in(remote: User, name: str, password: str) -> None:
    remote.find("User name").clear().type(name)
    remote.find("Password").clear().type(password)
    remote.find(kind=ui.button, content="Log in").click()


def remote_user() -> User:
    return User(httpx.AsyncClient(transport=httpx.ASGITransport(core.app, client=REMOTE), base_url="http://test"))


async def test_a_remote_browser_logs_in_and_out(user: User) -> None:
    await user.open("/")  # the local user starts the app
    await add_user_with_the_cli("aiko", "correct horse battery")
    remote = remote_user()
    await remote.open("/settings")
    await remote.should_see("Log in to use this studio from another machine.")
    await remote.should_not_see("Secrets")
    assert (await remote.http_client.get("/api/me")).status_code == 401

    log_in(remote, "aiko", "wrong password")
    await remote.should_see("Wrong user name or password.", retries=30)

    log_in(remote, "aiko", "correct horse battery")
    await remote.should_see("Secrets", retries=30)  # back on the page that was asked for
    me = await remote.http_client.get("/api/me")
    assert me.json() == {"name": "aiko", "via": "session"}

    remote.find("aiko").click()
    remote.find(marker="log-out").click()
    await remote.should_see("Log in to use this studio from another machine.")
    assert (await remote.http_client.get("/api/me")).status_code == 401


async def test_a_local_user_needs_no_login(user: User) -> None:
    await user.open("/login")
    await user.should_see("You are signed in as local.")


async def test_the_login_page_never_redirects_off_site(user: User) -> None:
    await user.open("/")
    await add_user_with_the_cli("aiko", "correct horse battery")
    remote = remote_user()
    await remote.open("/login?next=//evil.example/steal")
    log_in(remote, "aiko", "correct horse battery")
    await remote.should_see("Welcome to Anime Studio", retries=30)  # landed on the studio's own home page


async def test_an_administrator_locks_a_logged_in_user_out_at_once(user: User) -> None:
    await user.open("/")
    await add_user_with_the_cli("aiko", "correct horse battery")
    remote = remote_user()
    await remote.open("/settings")
    log_in(remote, "aiko", "correct horse battery")
    await remote.should_see("Secrets", retries=30)

    code, out = await studio_cli("user", "disable", "aiko")
    assert code == 0 and "user aiko is disabled" in out, out
    assert (await remote.http_client.get("/api/me")).status_code == 401
    await remote.open("/settings")
    await remote.should_see("Log in to use this studio from another machine.")
    log_in(remote, "aiko", "correct horse battery")
    await remote.should_see("Wrong user name or password.", retries=30)

    code, out = await studio_cli("user", "enable", "aiko")
    assert code == 0 and "can log in again" in out, out
    await remote.open("/settings")
    await remote.should_see("Log in to use this studio from another machine.")  # the old session stays ended
    log_in(remote, "aiko", "correct horse battery")
    await remote.should_see("Secrets", retries=30)

    code, out = await studio_cli("user", "delete", "aiko")
    assert code == 0 and "user aiko is deleted" in out, out
    await remote.open("/settings")
    await remote.should_see("Log in to use this studio from another machine.")
    code, out = await studio_cli("user", "revoke", "aiko")
    assert code == 1 and "there is no user named 'aiko'" in out, out


async def test_signing_out_everywhere_ends_the_page_sessions_too(user: User) -> None:
    await user.open("/")
    await add_user_with_the_cli("aiko", "correct horse battery")
    laptop, phone = remote_user(), remote_user()
    for device in (laptop, phone):
        await device.open("/settings")
        log_in(device, "aiko", "correct horse battery")
        await device.should_see("Secrets", retries=30)

    assert (await laptop.http_client.post("/api/auth/revoke")).status_code == 204
    for device in (laptop, phone):
        await device.open("/settings")
        await device.should_see("Log in to use this studio from another machine.")
