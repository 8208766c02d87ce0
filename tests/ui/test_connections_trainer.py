"""Settings → Connections: a GPU box's LoRA trainer folders are typed, tested (sd-scripts' scripts, its Python,
the loras folder) and saved, then shown on the device's card."""

from __future__ import annotations

import sys
from pathlib import Path

from nicegui.testing import User

from tests.ui.test_characters_page import api
from tests.ui.test_create_page import WAIT


async def test_trainer_folders_are_tested_saved_and_shown(user: User, tmp_path: Path) -> None:
    sd_scripts = tmp_path / "sd-scripts"
    sd_scripts.mkdir()
    (sd_scripts / "train_network.py").write_text("# sd-scripts\n")
    await user.open("/settings")
    user.find(marker="device-add").click()
    user.find(marker="device-name").type("trainer")
    user.find(marker="device-kohya_dir").type("sd-scripts")
    user.find(marker="device-save").click()
    await user.should_see("is not an absolute path", retries=WAIT)

    user.find(marker="device-kohya_dir").clear()
    user.find(marker="device-kohya_dir").type(str(sd_scripts))
    user.find(marker="device-kohya_python").type(sys.executable)
    user.find(marker="device-test").click()
    await user.should_see(marker="test-trainer", retries=WAIT)
    await user.should_see("LoRA trainer (kohya): not ready", retries=WAIT)  # no SDXL script
    await user.should_see("lacks sdxl_train_network.py", retries=WAIT)
    await user.should_see(f"its Python {sys.executable} runs", retries=WAIT)

    user.find(marker="device-save").click()
    await user.should_see(marker="device-trainer", retries=WAIT)
    await user.should_see(f"kohya sd-scripts folder: {sd_scripts}", retries=WAIT)
    [device] = await api(user, "GET", "/devices")
    assert (device["kohya_dir"], device["kohya_python"], device["loras_dir"]) == (
        str(sd_scripts),
        sys.executable,
        None,
    )
