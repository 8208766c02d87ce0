"""Preflight answers "can this device train a LoRA with ComfyUI's own nodes?" from the server's /object_info,
whichever generation of node names it has, and says what is missing otherwise (also in /api/backends)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.comfyui import ComfyClient, DevicePreflight, TrainingNodes, check_device
from services.prompts import BUILTIN_PROFILES
from studio.config import DeviceSettings, Settings
from studio.root import Studio
from tests.fakes import FakeComfyUI
from tests.integration.test_api import guarded_api


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, FakeComfyUI]]:
    with (
        FakeComfyUI(training="0.3.64") as old,
        FakeComfyUI(training="v3") as new,
        FakeComfyUI() as none,
    ):
        yield {"0.3.64": old, "v3": new, "none": none}


@pytest.fixture
def server(servers: dict[str, FakeComfyUI]) -> Iterator[dict[str, FakeComfyUI]]:
    for fake in servers.values():
        fake.reset()
    yield servers
    for fake in servers.values():
        fake.reset()


async def preflight(fake: FakeComfyUI) -> DevicePreflight:
    client = ComfyClient(fake.url)
    try:
        return await check_device("gpu1", client, (), BUILTIN_PROFILES)
    finally:
        await client.aclose()


async def test_a_0_3_64_server_trains_with_the_v1_names(server: dict[str, FakeComfyUI]) -> None:
    training = (await preflight(server["0.3.64"])).training
    assert training is not None and training.ready
    assert training.nodes == TrainingNodes(
        "0.3.64", "LoadImageTextSetFromFolderNode", "VAEEncode", "TrainLoraNode", "SaveLoRANode", "LossGraphNode"
    )
    assert training.describe() == (
        "LoRA training with ComfyUI's own nodes: ready (0.3.41-0.3.64 node names: LoadImageTextSetFromFolderNode → "
        "VAEEncode → TrainLoraNode → SaveLoRANode)"
    )


async def test_a_v3_server_trains_with_the_new_names(server: dict[str, FakeComfyUI]) -> None:
    training = (await preflight(server["v3"])).training
    assert training is not None and training.ready
    assert training.nodes == TrainingNodes(
        "v3", "LoadImageTextDataSetFromFolder", "MakeTrainingDataset", "TrainLoraNode", "SaveLoRA", "LossGraphNode"
    )


async def test_a_server_without_training_nodes_says_which_comfyui_has_them(server: dict[str, FakeComfyUI]) -> None:
    result = await preflight(server["none"])
    assert result.error is None and result.training is not None and not result.training.ready
    assert result.training.describe() == (
        "LoRA training with ComfyUI's own nodes: ComfyUI 0.3.41 or newer has the training nodes; "
        "this server has none of them (update ComfyUI)"
    )


async def test_a_partial_server_names_exactly_what_it_lacks(server: dict[str, FakeComfyUI]) -> None:
    fake = server["v3"]
    fake.missing_nodes = {"MakeTrainingDataset", "SaveLoRA"}
    training = (await preflight(fake)).training
    assert training is not None and not training.ready
    assert training.missing == (
        "node MakeTrainingDataset (it turns LoadImageTextDataSetFromFolder's images and captions into a training set)",
        "a LoRA saver (SaveLoRA or SaveLoRANode)",
    )
    assert training.describe().endswith("(part of ComfyUI itself: update ComfyUI)")

    # 0.3.41-0.3.43: the trainer without the kohya-folder loader.
    old = server["0.3.64"]
    old.missing_nodes = {"LoadImageTextSetFromFolderNode", "TrainLoraNode"}
    training = (await preflight(old)).training
    assert training is not None and training.missing == (
        "an image-and-caption folder loader (LoadImageTextDataSetFromFolder or LoadImageTextSetFromFolderNode; "
        "kohya folders since ComfyUI 0.3.44)",
        "node TrainLoraNode",
    )


async def test_an_unreachable_server_has_no_training_answer(server: dict[str, FakeComfyUI]) -> None:
    fake = server["v3"]
    fake.down = True
    try:
        result = await preflight(fake)
    finally:
        fake.down = False
    assert result.error is not None and result.training is None


async def test_backends_lists_each_devices_training_readiness(server: dict[str, FakeComfyUI], tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        devices=[
            DeviceSettings(name="old", comfyui_url=server["0.3.64"].url),
            DeviceSettings(name="new", comfyui_url=server["v3"].url),
            DeviceSettings(name="plain", comfyui_url=server["none"].url),
        ],
    )
    studio = Studio.build(settings)
    studio.migrate()
    try:
        transport = httpx.ASGITransport(app=guarded_api(studio), client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://studio") as client:
            response = await client.get("/api/backends")
        assert response.status_code == 200, response.text
        devices = {d["name"]: d["training"] for d in response.json()["devices"]}
    finally:
        await studio.stop()
    assert devices["old"]["ready"] and devices["old"]["nodes"]["saver"] == "SaveLoRANode"
    assert devices["new"]["nodes"] == {
        "generation": "v3",
        "folder_loader": "LoadImageTextDataSetFromFolder",
        "dataset": "MakeTrainingDataset",
        "trainer": "TrainLoraNode",
        "saver": "SaveLoRA",
        "loss_graph": "LossGraphNode",
    }
    assert devices["plain"]["ready"] is False and devices["plain"]["nodes"] is None
    assert "ComfyUI 0.3.41 or newer has the training nodes" in devices["plain"]["summary"]
