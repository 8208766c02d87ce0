"""Settings → Connections: connect a GPU box (Test shows what it has, Save puts it to work), remove it with
Undo, environment devices read-only, a service's secret saved without ever being shown."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from nicegui.testing import User

from tests.fakes.comfyui import FakeComfyUI
from tests.ui.test_characters_page import api
from tests.ui.test_create_page import WAIT, visible
from tests.ui.test_shell import eventually

SECRET = "echo-token-typed-in-the-page"


@pytest.fixture
def comfy() -> Iterator[FakeComfyUI]:
    with FakeComfyUI() as fake:
        yield fake


async def test_a_gpu_box_is_tested_saved_removed_and_brought_back(comfy: FakeComfyUI, user: User) -> None:
    await user.open("/settings")
    await user.should_see(marker="no-devices", retries=WAIT)
    user.find(marker="device-add").click()
    user.find(marker="device-name").type("gpu1")
    user.find(marker="device-comfyui_url").type(comfy.url)
    user.find(marker="device-test").click()
    await user.should_see(marker="test-engines", retries=WAIT)
    await user.should_see("version 0.3.64", retries=WAIT)
    assert "sd15_image" in visible(user, "test-engines")[0].text
    assert await api(user, "GET", "/devices") == []  # Test saves nothing

    user.find(marker="device-save").click()
    await user.should_see(marker="device-gpu1", retries=WAIT)
    [device] = await api(user, "GET", "/devices")
    assert (device["comfyui_url"], device["source"]) == (comfy.url, "app")

    user.find(marker="device-remove-gpu1").click()
    await user.should_see(marker="confirm", retries=WAIT)
    user.find(marker="confirm").click()
    await user.should_see(marker="no-devices", retries=WAIT)
    assert await api(user, "GET", "/devices") == []
    await user.should_see(marker="undo", retries=WAIT)
    user.find(marker="undo").click()
    await user.should_see(marker="device-gpu1", retries=WAIT)
    assert [d["name"] for d in await api(user, "GET", "/devices")] == ["gpu1"]


async def test_a_bad_address_is_refused_in_the_dialog(user: User) -> None:
    await user.open("/settings")
    user.find(marker="device-add").click()
    user.find(marker="device-name").type("gpu1")
    user.find(marker="device-comfyui_url").type("localhost:8188")
    user.find(marker="device-save").click()
    await user.should_see("is not an http(s) URL", retries=WAIT)
    assert await api(user, "GET", "/devices") == []


@pytest.fixture
def environment_device(monkeypatch: pytest.MonkeyPatch) -> None:
    """Set before the studio starts (the `user` fixture starts it)."""
    monkeypatch.setenv("STUDIO_DEVICES", json.dumps([{"name": "envbox", "comfyui_url": "http://127.0.0.1:9"}]))


async def test_devices_the_environment_sets_are_shown_read_only(environment_device: None, user: User) -> None:
    await user.open("/settings")
    await user.should_see(marker="device-environment-envbox", retries=WAIT)
    await user.should_not_see(marker="device-edit-envbox")
    await user.should_not_see(marker="device-remove-envbox")


async def test_a_service_secret_is_saved_and_never_shown(user: User) -> None:
    await user.open("/settings")
    await user.should_see(marker="service-echo_brain", retries=WAIT)
    user.find(marker="echo_brain-echo_brain_url").type("http://127.0.0.1:8309")
    user.find(marker="echo_brain-echo_brain_token").type(SECRET)
    user.find(marker="echo_brain-save").click()
    await user.should_see(marker="echo_brain-echo_brain_token-forget", retries=WAIT)
    connections = await api(user, "GET", "/connections")
    echo = next(s for s in connections["services"] if s["service"] == "echo_brain")
    assert echo["values"] == {"echo_brain_url": "http://127.0.0.1:8309"}
    assert echo["secrets"] == {"echo_brain_token": {"set": True}}
    await eventually(lambda: visible(user, "echo_brain-echo_brain_token")[0].value == "")
