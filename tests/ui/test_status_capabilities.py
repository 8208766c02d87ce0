"""The Status page's per-device capabilities: engines ready or missing (nodes, models), style checkpoints."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from nicegui.testing import User

from tests.fakes.comfyui import FakeComfyUI
from tests.ui.test_characters_page import api, element
from tests.ui.test_create_page import DREAM, NOOB, WAIT, builtins_seeded, visible
from tests.ui.test_shell import eventually


@pytest.fixture
def comfy(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeComfyUI]:
    """Device gpu1 without the FramePack nodes and without the LTX-Video checkpoint."""
    with FakeComfyUI(missing_nodes={"FramePackSampler"}) as fake:
        fake.models["checkpoints"].remove("ltxv-2b-fp8.safetensors")
        fake.models["diffusion_models"].remove("ltxv-2b-fp8.safetensors")
        monkeypatch.setenv("STUDIO_DEVICES", json.dumps([{"name": "gpu1", "comfyui_url": fake.url}]))
        yield fake


def texts(user: User, marker: str) -> list[str]:
    return [e.text for e in visible(user, marker)]


async def test_each_engine_says_ready_or_exactly_what_is_missing(comfy: FakeComfyUI, user: User) -> None:
    await builtins_seeded(user)
    await api(user, "POST", "/generation-styles", DREAM)
    await api(user, "POST", "/generation-styles", NOOB)
    await user.open("/status")
    await user.should_see("What each ComfyUI device can run", retries=WAIT)
    await eventually(lambda: bool(visible(user, "capabilities-gpu1")), seconds=20)
    await user.should_not_see(marker="capabilities-loading", retries=WAIT)

    assert texts(user, "engine-state-gpu1-sd15_image") == ["ready"]
    assert texts(user, "engine-state-gpu1-framepack") == ["missing"]
    assert texts(user, "missing-node-gpu1-framepack") == [
        "missing node FramePackSampler (install ShmuelRonen/ComfyUI-FramePackWrapper_Plus in place of "
        "kijai/ComfyUI-FramePackWrapper, which registers the same node names: keep only one)"
    ]
    assert texts(user, "engine-state-gpu1-framepack_f1") == ["ready"]  # F1 has its own sampler node
    [ltx_model, *_] = texts(user, "missing-model-gpu1-ltx_t2v")
    assert "ltxv-2b-fp8.safetensors" in ltx_model
    assert f"looked in {comfy.url}/models/" in ltx_model

    await user.should_see(marker="checkpoint-gpu1-dream", retries=WAIT)
    await user.should_see("dream: dreamshaper_8.safetensors", retries=WAIT)
    noob = element(user, "checkpoint-gpu1-noob")
    assert [c.text for c in noob.descendants() if hasattr(c, "text") and c.text == "missing"]
    await user.should_see("similar files there: NoobAI-XL-Vpred-v1.0.safetensors", retries=WAIT)


async def test_check_again_asks_the_server_anew_and_an_unreachable_one_says_why(comfy: FakeComfyUI, user: User) -> None:
    await user.open("/status")
    await eventually(lambda: bool(visible(user, "engine-state-gpu1-framepack")), seconds=20)
    comfy.missing_nodes.clear()
    user.find(marker="check-capabilities").click()
    await eventually(lambda: texts(user, "engine-state-gpu1-framepack") == ["ready"], seconds=20)

    comfy.down = True
    user.find(marker="check-capabilities").click()
    await eventually(lambda: bool(visible(user, "preflight-error-gpu1")), seconds=15)
    assert "Could not ask this server what it has" in texts(user, "preflight-error-gpu1")[0]
    await user.should_not_see(marker="engine-state-gpu1-framepack", retries=WAIT)
    comfy.down = False


async def test_without_comfyui_devices_there_is_no_capabilities_section(user: User) -> None:
    await user.open("/status")
    await user.should_see("Backends", retries=WAIT)
    await user.should_not_see("What each ComfyUI device can run", retries=WAIT)


@pytest.fixture
def trainer(comfy: FakeComfyUI, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeComfyUI]:
    """A second device, gpu2, whose ComfyUI has the V3 training nodes (gpu1 has none)."""
    with FakeComfyUI(training="v3") as fake:
        devices = [{"name": "gpu1", "comfyui_url": comfy.url}, {"name": "gpu2", "comfyui_url": fake.url}]
        monkeypatch.setenv("STUDIO_DEVICES", json.dumps(devices))
        yield fake


async def test_the_device_card_says_whether_it_can_train_a_lora(trainer: FakeComfyUI, user: User) -> None:
    await user.open("/status")
    await eventually(lambda: bool(visible(user, "training-state-gpu2")), seconds=20)
    assert texts(user, "training-state-gpu2") == ["ready"]
    await user.should_see(
        "V3 names: LoadImageTextDataSetFromFolder → MakeTrainingDataset → TrainLoraNode → SaveLoRA", retries=WAIT
    )
    assert texts(user, "training-state-gpu1") == ["missing"]
    assert texts(user, "training-missing-gpu1") == [
        "LoRA training with ComfyUI's own nodes: ComfyUI 0.3.41 or newer has the training nodes; "
        "this server has none of them (update ComfyUI)"
    ]
