"""Selects that list devices follow Settings → Connections: a GPU box connected while a page is open is offered
there at once, without a reload."""

from __future__ import annotations

from nicegui.testing import User

from studio.config import DeviceSettings
from tests.fakes.comfyui import FakeComfyUI
from tests.ui.test_characters_page import element
from tests.ui.test_create_page import WAIT, project_with_koopa
from tests.ui.test_datasets_page import running_studio
from tests.ui.test_shell import eventually


async def test_a_device_connected_while_create_is_open_is_offered_and_unblocks_generate(user: User) -> None:
    project_id, _ = await project_with_koopa(user)
    await user.open(f"/create?project={project_id}")
    await user.should_see(marker="no-comfy-device", retries=WAIT)
    assert not element(user, "generate").enabled
    with FakeComfyUI() as fake:
        await running_studio().connections.add_device("aiko", DeviceSettings(name="gpu7", comfyui_url=fake.url))
        await eventually(lambda: "gpu7" in element(user, "device-select").options)
        await user.should_not_see(marker="no-comfy-device")
        assert element(user, "generate").enabled

        await running_studio().connections.remove_device("aiko", "gpu7")
        await eventually(lambda: "gpu7" not in element(user, "device-select").options)
        await user.should_see(marker="no-comfy-device")
        assert not element(user, "generate").enabled


async def test_the_jobs_device_filter_offers_a_device_connected_after_the_page_opened(user: User) -> None:
    await user.open("/jobs")
    await user.should_see(marker="device-filter", retries=WAIT)
    assert "gpu8" not in element(user, "device-filter").options
    with FakeComfyUI() as fake:
        await running_studio().connections.add_device("aiko", DeviceSettings(name="gpu8", comfyui_url=fake.url))
        await eventually(lambda: "gpu8" in element(user, "device-filter").options)
        await running_studio().connections.remove_device("aiko", "gpu8")


async def test_the_comfyui_import_offers_a_device_connected_after_the_page_opened(user: User) -> None:
    project_id, _ = await project_with_koopa(user)
    await user.open(f"/datasets/add?project={project_id}")
    await user.should_see(marker="no-comfy-device", retries=WAIT)
    with FakeComfyUI() as fake:
        await running_studio().connections.add_device("aiko", DeviceSettings(name="gpu9", comfyui_url=fake.url))
        await user.should_see(marker="comfy-device", retries=WAIT)
        assert element(user, "comfy-device").value == "gpu9"
        await user.should_not_see(marker="no-comfy-device")
        await running_studio().connections.remove_device("aiko", "gpu9")
        await user.should_see(marker="no-comfy-device", retries=WAIT)


async def test_status_shows_what_a_device_connected_after_the_page_opened_can_run(user: User) -> None:
    await user.open("/status")
    await user.should_see("Backends", retries=WAIT)
    await user.should_not_see(marker="check-capabilities")
    with FakeComfyUI() as fake:
        await running_studio().connections.add_device("aiko", DeviceSettings(name="gpu10", comfyui_url=fake.url))
        await user.should_see(marker="check-capabilities", retries=WAIT)
        await user.should_see("gpu10", retries=WAIT)
        await running_studio().connections.remove_device("aiko", "gpu10")
        await user.should_not_see(marker="check-capabilities", retries=WAIT)
