"""A real browser against a real studio process: open it, navigate, see the backends' status."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.fakes import FakeComfyUI
from tests.studio_process import REPO, StudioProcess

pytestmark = pytest.mark.e2e
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture(scope="module")
def comfyui() -> Iterator[FakeComfyUI]:
    with FakeComfyUI() as fake:
        yield fake


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, comfyui: FakeComfyUI) -> Iterator[StudioProcess]:
    devices = json.dumps([{"name": "rtx3060", "comfyui_url": comfyui.url}])
    with StudioProcess(tmp_path_factory.mktemp("e2e") / "data", {"STUDIO_DEVICES": devices}) as studio:
        yield studio


def shot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def test_open_the_studio_and_see_the_backends(server: StudioProcess, page: Page) -> None:
    page.goto(server.url + "/status")
    expect(page.get_by_test_id("page-title")).to_have_text("Status")
    comfy = page.get_by_test_id("backend-comfyui@rtx3060")
    expect(comfy).to_contain_text("reachable", timeout=10_000)
    expect(comfy).to_contain_text("version 0.3.64")
    expect(comfy).to_contain_text("NVIDIA GeForce RTX 3060")
    expect(page.get_by_test_id("backend-jellyfin")).to_contain_text("not configured")
    shot(page, "status")


def test_navigate_between_areas(server: StudioProcess, page: Page) -> None:
    page.goto(server.url + "/")
    page.get_by_text("Settings", exact=True).click()
    expect(page).to_have_url(server.url + "/settings")
    port = page.get_by_text("STUDIO_PORT", exact=True)
    port.scroll_into_view_if_needed()  # in the Server and storage group, below the others
    expect(port).to_be_visible()
    expect(page.get_by_text(str(server.port), exact=True)).to_be_visible()
    shot(page, "settings")
    page.get_by_text("Activity", exact=True).click()
    expect(page).to_have_url(server.url + "/activity")
    expect(page.get_by_text("started on sqlite")).to_be_visible()


def test_dark_mode_survives_a_reload(server: StudioProcess, page: Page) -> None:
    page.goto(server.url + "/")
    body = page.locator("body")
    expect(body).not_to_contain_class("body--dark")  # headless chromium prefers light
    page.get_by_label("Toggle dark mode").click()
    expect(body).to_contain_class("body--dark")
    page.reload()
    expect(page.locator("body")).to_contain_class("body--dark")
