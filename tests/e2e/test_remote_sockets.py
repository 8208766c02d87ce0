"""NiceGUI's socket from a client that must log in, against a real studio process and chromium.

`STUDIO_TRUSTED_PROXIES=127.0.0.1/32` makes the test's own loopback connections count as a proxy
that names no client, so every request here is treated as coming from another machine.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets.sync.client as ws_client
from playwright.sync_api import Browser, BrowserContext, Page, expect
from websockets.exceptions import InvalidStatus

from tests.studio_process import REPO, StudioProcess

pytestmark = pytest.mark.e2e
SOCKET = "/_nicegui_ws/socket.io/?EIO=4&transport="
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StudioProcess]:
    with StudioProcess(
        tmp_path_factory.mktemp("remote") / "data", {"STUDIO_TRUSTED_PROXIES": "127.0.0.1/32"}
    ) as studio:
        assert cli(studio, "user", "add", "aiko", "--password-stdin", stdin=PASSWORD + "\n").returncode == 0
        yield studio


def cli(server: StudioProcess, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "studio", *args],
        env=server.env,
        cwd=REPO,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    yield context
    context.close()


def logged_in_page(server: StudioProcess, context: BrowserContext, name: str = "aiko") -> Page:
    page = context.new_page()
    page.goto(server.url + "/settings")
    expect(page.get_by_text("Log in to use this studio from another machine.")).to_be_visible()
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()  # a socket event: the login page's socket works
    expect(page.get_by_test_id("page-title")).to_have_text("Settings", timeout=15_000)
    return page


def cookie_header(context: BrowserContext) -> dict[str, str]:
    return {"Cookie": "; ".join(f"{c['name']}={c['value']}" for c in context.cookies())}


def socket_url(server: StudioProcess, transport: str, client_id: str | None = None) -> str:
    query = f"client_id={client_id}&" if client_id else ""
    return f"{server.url}/_nicegui_ws/socket.io/?{query}EIO=4&transport={transport}"


def test_the_socket_needs_the_same_login_as_the_pages(server: StudioProcess, context: BrowserContext) -> None:
    polling = httpx.get(socket_url(server, "polling"))
    assert polling.status_code == 401 and "log in" in polling.json()["detail"]
    with pytest.raises(InvalidStatus):
        ws_client.connect(socket_url(server, "websocket").replace("http", "ws", 1), open_timeout=10)

    page = logged_in_page(server, context)
    page.get_by_text("Activity", exact=True).click()  # the page's own socket carries the click
    expect(page).to_have_url(server.url + "/activity")

    session = cookie_header(context)
    polling = httpx.get(socket_url(server, "polling"), headers=session)
    assert polling.status_code == 200 and polling.text.startswith('0{"sid"')  # engine.io's open packet
    with ws_client.connect(
        socket_url(server, "websocket").replace("http", "ws", 1), additional_headers=session, open_timeout=10
    ) as socket:
        assert str(socket.recv(timeout=10)).startswith('0{"sid"')

    cli(server, "user", "revoke", "aiko")
    assert httpx.get(socket_url(server, "polling"), headers=session).status_code == 401


def test_a_socket_cannot_drive_another_clients_page(server: StudioProcess, context: BrowserContext) -> None:
    page = logged_in_page(server, context)
    body = page.locator("body")
    expect(body).not_to_contain_class("body--dark")
    click: dict[str, Any] = page.evaluate(
        """() => {
            const button = document.querySelector('[aria-label="Toggle dark mode"]');
            const id = Number(button.id.slice(1));
            const listener = mounted_app.elements[id].events.find((e) => e.type === "click");
            return {id, client_id: window.clientId, listener_id: listener.listener_id, args: []};
        }"""
    )

    # Anyone may open the login page's socket; from it, the victim's button must stay out of reach.
    login = httpx.get(server.url + "/login")
    match = re.search(r"'client_id': '([0-9a-f-]+)'", login.text)
    assert match is not None
    url = socket_url(server, "websocket", match.group(1)).replace("http", "ws", 1)
    with ws_client.connect(url, additional_headers={"Cookie": login.headers["set-cookie"].split(";")[0]}) as socket:
        assert str(socket.recv(timeout=10)).startswith("0")
        socket.send("40")  # socket.io: connect to the default namespace
        assert str(socket.recv(timeout=10)).startswith("40")
        socket.send("42" + json.dumps(["event", click]))
        deadline = time.monotonic() + 10
        while "dropped a socket message for a page client other than the socket's own" not in server.log():
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.05)
    expect(body).not_to_contain_class("body--dark")

    page.evaluate("(click) => window.socket.emit('event', click)", click)  # the same click from its own socket
    expect(body).to_contain_class("body--dark")


def test_a_page_left_open_stops_working_when_its_user_is_locked_out(
    server: StudioProcess, context: BrowserContext
) -> None:
    cli(server, "user", "add", "ren", "--password-stdin", stdin=PASSWORD + "\n")
    page = logged_in_page(server, context, "ren")
    body, toggle = page.locator("body"), page.get_by_label("Toggle dark mode")
    toggle.click()
    expect(body).to_contain_class("body--dark")  # the open socket drives the page

    cli(server, "user", "disable", "ren")
    toggle.click()  # over the socket opened while ren was still allowed in
    expect(page.get_by_text("Log in to use this studio from another machine.")).to_be_visible(timeout=15_000)
    assert not page.get_by_label("Toggle dark mode").is_visible()
