"""Preflight against the fake ComfyUI: readiness checks what it claims, and every fix is one that can be done."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.comfyui import (
    ComfyClient,
    DeviceCapabilities,
    DevicePreflight,
    ServerInventory,
    StyleCheckpoint,
    check_device,
)
from services.prompts import BUILTIN_PROFILES
from services.prompts.samplers import COMFY_NAMES
from tests.conftest import free_port
from tests.fakes import FakeComfyUI
from workflows import ImageRequest, build_image_workflow

FRAMEPACK_PLUS = "ShmuelRonen/ComfyUI-FramePackWrapper_Plus"
KIJAI_FRAMEPACK = "kijai/ComfyUI-FramePackWrapper"
GGUF_NODES = {"UnetLoaderGGUF", "UnetLoaderGGUFAdvanced", "CLIPLoaderGGUF", "DualCLIPLoaderGGUF"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeComfyUI]:
    with FakeComfyUI() as server:
        yield server


async def preflight(fake: FakeComfyUI, *styles: StyleCheckpoint) -> DevicePreflight:
    client = ComfyClient(fake.url)
    try:
        return await check_device("gpu1", client, styles, BUILTIN_PROFILES)
    finally:
        await client.aclose()


def engines(result: DevicePreflight) -> dict[str, str]:
    assert result.error is None, result.error
    return {e.key: e.describe() for e in result.engines}


async def test_sdxl_is_ready_only_with_a_checkpoint_an_sdxl_profile_claims(fake: FakeComfyUI) -> None:
    assert engines(await preflight(fake))["sdxl_image"] == "SDXL text-to-image: ready"  # NoobAI-XL is there

    fake.models["checkpoints"] = ["dreamshaper_8.safetensors", "Counterfeit-V3.0_fp16.safetensors"]  # SD 1.5 only
    described = engines(await preflight(fake))
    assert described["sd15_image"] == "SD 1.5 text-to-image: ready"
    assert described["sdxl_image"] == (
        f"SDXL text-to-image lacks an SDXL checkpoint in checkpoints (looked in {fake.url}/models/checkpoints) — "
        "no file there matches a model profile for SDXL (NoobAI-XL v-pred, NoobAI-XL, Illustrious-XL, Pony Diffusion, "
        "SDXL): add such "
        "a checkpoint, or a model profile whose match strings name yours (or a style naming it with that "
        "architecture)"
    )

    fake.models["checkpoints"] = []
    assert "lacks an SD 1.5 checkpoint in checkpoints" in engines(await preflight(fake))["sd15_image"]


async def test_a_style_that_says_its_checkpoint_is_sdxl_counts_as_the_planner_counts_it(fake: FakeComfyUI) -> None:
    fake.models["checkpoints"] = ["sd_xl_base_1.0.safetensors"]  # the built-in SDXL profile claims it
    assert engines(await preflight(fake))["sdxl_image"] == "SDXL text-to-image: ready"
    fake.models["checkpoints"] = ["juggernautXL_v9.safetensors"]  # no profile claims it: the catch-all is SD 1.5
    assert engines(await preflight(fake))["sdxl_image"] != "SDXL text-to-image: ready"
    juggernaut = StyleCheckpoint("photo", "juggernautXL_v9.safetensors", "sdxl")
    assert engines(await preflight(fake, juggernaut))["sdxl_image"] == "SDXL text-to-image: ready"


async def test_both_framepack_engines_name_the_one_pack_that_runs_both(fake: FakeComfyUI) -> None:
    # Neither FramePack pack installed: the Plus pack is the fix for both engines, never kijai's for one of them.
    fake.missing_nodes = {
        c for c, spec in fake.node_specs.items() if spec["source"] in (KIJAI_FRAMEPACK, FRAMEPACK_PLUS)
    }
    result = await preflight(fake)
    for key in ("framepack", "framepack_f1"):
        [engine] = [e for e in result.engines if e.key == key]
        assert {n.package for n in engine.missing_nodes} == {FRAMEPACK_PLUS}, engine.describe()
        assert KIJAI_FRAMEPACK not in engine.describe()


async def test_f1_on_a_server_with_kijais_pack_says_to_replace_it(fake: FakeComfyUI) -> None:
    fake.missing_nodes = {c for c, spec in fake.node_specs.items() if spec["source"] == FRAMEPACK_PLUS}
    described = engines(await preflight(fake))
    assert described["framepack"] == "FramePack image-to-video: ready"
    assert described["framepack_f1"] == (
        "FramePack F1 image-to-video lacks "
        f"node FramePackSampler_F1 (install {FRAMEPACK_PLUS} in place of {KIJAI_FRAMEPACK}, which registers the "
        "same node names: keep only one); "
        f"node FramePackTimestampedTextEncode (install {FRAMEPACK_PLUS} in place of {KIJAI_FRAMEPACK}, which "
        "registers the same node names: keep only one)"
    )


async def test_without_the_gguf_pack_wan_names_the_pack_not_a_folder_that_does_not_exist(fake: FakeComfyUI) -> None:
    # A real ComfyUI without ComfyUI-GGUF has no unet_gguf folder: /models omits it, /models/unet_gguf is a 404.
    fake.missing_nodes = set(GGUF_NODES)
    del fake.models["unet_gguf"], fake.models["clip_gguf"]
    described = engines(await preflight(fake))
    assert described["wan_t2v"] == (
        "Wan 2.1 text-to-video lacks node UnetLoaderGGUF (install city96/ComfyUI-GGUF); "
        "model file Wan2.1-T2V-1.3B-Q8_0.gguf in unet_gguf (the server has no such folder) — ComfyUI has no "
        "unet_gguf folder until city96/ComfyUI-GGUF, which registers it, is installed"
    )
    assert "looked in" not in described["wan_t2v"]


async def test_the_preflight_reports_the_servers_sampler_names(fake: FakeComfyUI) -> None:
    result = await preflight(fake)
    assert result.sampler_names is not None
    assert result.sampler_names.samplers == COMFY_NAMES.samplers
    assert result.sampler_names.source == "ComfyUI on gpu1"


async def test_a_graph_is_checked_against_the_samplers_the_server_offers(fake: FakeComfyUI) -> None:
    graph = build_image_workflow(
        ImageRequest("sd15", "dreamshaper_8.safetensors", sampler="res_2s", scheduler="normal")
    )
    client = ComfyClient(fake.url)
    try:
        problems = await ServerInventory(client, await client.object_info()).graph_problems(graph)
        [problem] = problems
        assert "(KSampler) input 'sampler_name': 'res_2s' is not one of ['euler'," in problem

        fake.node_specs["KSampler"]["required"]["sampler_name"].append("res_2s")  # a newer ComfyUI
        assert await ServerInventory(client, await client.object_info()).graph_problems(graph) == []
    finally:
        await client.aclose()


async def test_model_pickers_list_every_devices_files_and_skip_a_device_that_is_down(fake: FakeComfyUI) -> None:
    with FakeComfyUI() as other:
        other.models["loras"] = ["mira_lora.safetensors", "Harbor_style.safetensors"]
        devices = {"gpu1": fake.url, "gpu2": other.url, "gone": f"http://127.0.0.1:{free_port()}"}
        capabilities = DeviceCapabilities(lambda: devices, timeout=5.0)
        # One list, each file once, sorted as a person reads (case aside); the dead device adds nothing.
        assert await capabilities.model_files("loras") == [
            "Harbor_style.safetensors",
            "mira_lora.safetensors",
            "mira_xl_lora.safetensors",
        ]
        assert await capabilities.model_files("no_such_folder") == []  # ComfyUI answers 404 for it
    assert await DeviceCapabilities(dict, timeout=5.0).model_files("checkpoints") == []  # no device: plain input


async def test_a_styles_vae_the_device_lacks_is_named_with_the_files_it_has(fake: FakeComfyUI) -> None:
    own = StyleCheckpoint("plain", "dreamshaper_8.safetensors")
    clean = StyleCheckpoint("clean", "dreamshaper_8.safetensors", vae="sdxl_vae.safetensors")
    typo = StyleCheckpoint("typo", "dreamshaper_8.safetensors", vae="sdxl-vae-fp16.safetensors")
    result = await preflight(fake, own, clean, typo)
    by_style = {c.style: c for c in result.checkpoints}
    assert (by_style["plain"].vae, by_style["plain"].ready) == (None, True)
    assert (by_style["clean"].vae_present, by_style["clean"].ready) == (True, True)
    assert (by_style["typo"].present, by_style["typo"].vae_present, by_style["typo"].ready) == (True, False, False)
    assert "sdxl_vae.safetensors" in by_style["typo"].vae_near


async def test_the_pre_queue_check_names_a_missing_vae_like_a_missing_checkpoint(fake: FakeComfyUI) -> None:
    client = ComfyClient(fake.url)
    try:
        inventory = ServerInventory(client, await client.object_info())
        present = build_image_workflow(ImageRequest("sd15", "dreamshaper_8.safetensors", vae="sdxl_vae.safetensors"))
        assert await inventory.graph_problems(present) == []
        missing = build_image_workflow(
            ImageRequest("sd15", "dreamshaper_8.safetensors", vae="kl-f8-anime2.safetensors")
        )
        [problem] = await inventory.graph_problems(missing)
        assert problem.startswith(f"model file kl-f8-anime2.safetensors in vae (looked in {fake.url}/models/vae)")
    finally:
        await client.aclose()
