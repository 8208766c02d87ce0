"""The fake ComfyUI's native training nodes, both naming generations, driven by the production ComfyClient and
ComfySocket over HTTP + WebSocket: a kohya folder uploaded, loader → train → save queued, the LoRA read back."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from PIL import Image
from safetensors.numpy import load

from services.comfyui import (
    ComfyClient,
    ComfySocket,
    Connected,
    NodeStarted,
    OutputFile,
    Progress,
    PromptFinished,
    PromptRejected,
    SocketMessage,
)
from tests.fakes import FakeComfyUI

CHECKPOINT = "dreamshaper_8.safetensors"
SAVE = {"0.3.64": "SaveLoRANode", "v3": "SaveLoRA"}


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, FakeComfyUI]]:
    with FakeComfyUI(training="0.3.64") as old, FakeComfyUI(training="v3") as new:
        yield {"0.3.64": old, "v3": new}


@pytest.fixture(params=["0.3.64", "v3"])
def fake(request: pytest.FixtureRequest, servers: dict[str, FakeComfyUI]) -> Iterator[FakeComfyUI]:
    server = servers[request.param]
    server.reset()
    server.training_step_seconds = 0.005
    yield server
    server.reset()


@pytest.fixture
async def client(fake: FakeComfyUI) -> AsyncIterator[ComfyClient]:
    comfy = ComfyClient(fake.url)
    yield comfy
    await comfy.aclose()


def png(color: tuple[int, int, int], size: tuple[int, int] = (64, 64)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


async def upload_set(
    client: ComfyClient, folder: str, captions: dict[str, str], sizes: dict[str, tuple[int, int]] | None = None
) -> None:
    """A kohya set: `training/<folder>/<stem>.png` + `<stem>.txt` (no .txt when the caption is None)."""
    for index, (stem, caption) in enumerate(captions.items()):
        size = (sizes or {}).get(stem, (64, 64))
        await client.upload_image(png((index * 40, 90, 200), size), f"{stem}.png", subfolder=f"training/{folder}")
        if caption is not None:
            await client.upload_image(caption.encode(), f"{stem}.txt", subfolder=f"training/{folder}")


def training_graph(
    generation: str,
    *,
    folder: str = "training",
    steps: int = 6,
    rank: int = 4,
    existing_lora: str = "[None]",
    prefix: str = "loras/mira_e1",
    loss_graph: bool = False,
) -> dict[str, Any]:
    """Checkpoint → folder loader → (VAEEncode | MakeTrainingDataset) → TrainLoraNode → SaveLoRA(Node)."""
    graph: dict[str, Any] = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CHECKPOINT}}}
    if generation == "0.3.64":
        graph["2"] = {"class_type": "LoadImageTextSetFromFolderNode", "inputs": {"folder": folder, "clip": ["1", 1]}}
        graph["3"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["2", 0], "vae": ["1", 2]}}
        latents, positive = ["3", 0], ["2", 1]
    else:
        graph["2"] = {"class_type": "LoadImageTextDataSetFromFolder", "inputs": {"folder": folder}}
        graph["3"] = {
            "class_type": "MakeTrainingDataset",
            "inputs": {"images": ["2", 0], "texts": ["2", 1], "vae": ["1", 2], "clip": ["1", 1]},
        }
        latents, positive = ["3", 0], ["3", 1]
    graph["4"] = {
        "class_type": "TrainLoraNode",
        "inputs": {
            "model": ["1", 0],
            "latents": latents,
            "positive": positive,
            "batch_size": 1,
            "grad_accumulation_steps": 1,
            "steps": steps,
            "learning_rate": 0.0005,
            "rank": rank,
            "optimizer": "AdamW",
            "loss_function": "MSE",
            "seed": 7,
            "training_dtype": "bf16",
            "lora_dtype": "bf16",
            "algorithm": "LoRA",
            "gradient_checkpointing": True,
            "existing_lora": existing_lora,
        },
    }
    graph["5"] = {"class_type": SAVE[generation], "inputs": {"lora": ["4", 1], "prefix": prefix, "steps": ["4", 3]}}
    if loss_graph:
        graph["6"] = {"class_type": "LossGraphNode", "inputs": {"loss": ["4", 2], "filename_prefix": "mira_loss"}}
    return graph


async def run(client: ComfyClient, fake: FakeComfyUI, graph: dict[str, Any]) -> tuple[str, list[SocketMessage]]:
    """Submit once the socket listens; the prompt id and every message until the prompt is over."""
    socket = ComfySocket(fake.url, client.client_id)
    prompt_id = str(uuid.uuid4())
    connected = asyncio.Event()

    async def collect() -> list[SocketMessage]:
        seen: list[SocketMessage] = []
        async for message in socket.messages():
            seen.append(message)
            if isinstance(message, Connected):
                connected.set()
            if isinstance(message, PromptFinished) and message.prompt_id == prompt_id:
                break
        return seen

    task = asyncio.create_task(collect())
    await asyncio.wait_for(connected.wait(), 10)
    await client.submit(graph, prompt_id=prompt_id)
    return prompt_id, await asyncio.wait_for(task, 20)


def lora_file(name: str) -> OutputFile:
    return OutputFile(node_id="5", key="loras", filename=name, subfolder="loras", type="output")


@pytest.mark.parametrize("generation", ["0.3.64", "v3"])
async def test_a_kohya_folder_trains_and_the_lora_comes_back(generation: str, servers: dict[str, FakeComfyUI]) -> None:
    fake = servers[generation]
    fake.reset()
    fake.training_step_seconds = 0.01
    client = ComfyClient(fake.url)
    try:
        await upload_set(client, "10_mira girl", {"a": "mira, 1girl, red hair", "b": "mira, 1girl, smiling"})
        loader = await client.node_info(training_graph(generation)["2"]["class_type"])
        assert loader is not None
        choices = loader["input"]["required"]["folder"]
        listed = choices[0] if generation == "0.3.64" else choices[1]["options"]
        assert listed == ["training", "training/10_mira girl"]  # every subfolder, as get_input_subfolders

        prompt_id, seen = await run(client, fake, training_graph(generation, steps=6, loss_graph=True))
        outcome = await client.history(prompt_id)
        assert outcome is not None and outcome.status == "success", outcome
        progress = [m for m in seen if isinstance(m, Progress) and m.node == "4"]
        if generation == "0.3.64":
            assert progress == []  # tqdm only: nothing on the socket while it trains
        else:
            assert [(p.value, p.maximum) for p in progress] == [(i, 6) for i in range(1, 7)]
        assert "4" in [m.node for m in seen if isinstance(m, NodeStarted)]
        # The training took its steps' time: 6 steps x 10 ms.
        [execution] = [e for e in fake.executions if e.prompt_id == prompt_id]
        assert execution.finished_at is not None and execution.finished_at - execution.started_at >= 0.06

        # SaveLoRA reports nothing (it returns {}): only the loss graph's temp image is in the history.
        assert [(f.node_id, f.type) for f in outcome.outputs] == [("6", "temp")]
        assert (await client.download(outcome.outputs[0]))[:8] == b"\x89PNG\r\n\x1a\n"
        # 2 images x 10 repeats; the file is named by the steps it was trained for.
        data = await client.download(lora_file("mira_e1_6_steps_00001_.safetensors"))
        tensors = load(data)
        down = tensors["diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_q.lora_down.weight"]
        up = tensors["diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_q.lora_up.weight"]
        assert down.shape == (4, 320) and up.shape == (320, 4)
        assert "diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_q.alpha" in tensors
        # In output/, not models/loras: LoraLoader cannot see it until the studio puts it there.
        assert "mira_e1_6_steps_00001_.safetensors" not in await client.models("loras")
    finally:
        await client.aclose()


async def test_the_folder_loader_repeats_kohya_folders_and_reads_same_stem_captions(
    fake: FakeComfyUI, client: ComfyClient
) -> None:
    await upload_set(client, "3_mira", {"a": "mira, red hair", "b": "mira, blue dress"})
    await upload_set(client, "1_extra", {"c": "mira, night"})
    await client.upload_image(png((1, 2, 3)), "notes.gif", subfolder="training/3_mira")  # not an image type it reads
    graph = training_graph(fake.training or "", steps=2)
    prompt_id, _ = await run(client, fake, graph)
    outcome = await client.history(prompt_id)
    assert outcome is not None and outcome.status == "success", outcome
    [load] = fake.dataset_loads
    assert load.folder == "training"
    assert load.files == ("1_extra/c.png",) + ("3_mira/a.png", "3_mira/b.png") * 3
    assert load.captions == ("mira, night",) + ("mira, red hair", "mira, blue dress") * 3


async def test_an_empty_caption_breaks_0_3_64_training_with_the_count_mismatch(
    fake: FakeComfyUI, client: ComfyClient
) -> None:
    await upload_set(client, "2_mira", {"a": "mira, red hair", "b": ""})
    prompt_id, _ = await run(client, fake, training_graph(fake.training or ""))
    outcome = await client.history(prompt_id)
    assert outcome is not None
    if fake.training == "0.3.64":
        # 4 images; the empty caption is encoded twice for each of its 2 listings: 6 conditionings.
        assert outcome.status == "error" and outcome.failure is not None
        assert (outcome.failure.node_type, outcome.failure.exception_type) == ("TrainLoraNode", "ValueError")
        assert outcome.failure.message == "Number of positive conditions (6) does not match number of images (4)."
        assert not (fake.output_dir / "loras").exists()
    else:
        assert outcome.status == "success"  # MakeTrainingDataset encodes one conditioning per text


async def test_0_3_64_needs_equal_image_sizes_unless_it_resizes(fake: FakeComfyUI, client: ComfyClient) -> None:
    await upload_set(client, "1_mira", {"a": "mira", "b": "mira"}, sizes={"b": (96, 64)})
    prompt_id, _ = await run(client, fake, training_graph(fake.training or "", steps=1))
    outcome = await client.history(prompt_id)
    assert outcome is not None
    if fake.training == "0.3.64":
        assert outcome.failure is not None and outcome.failure.node_type == "LoadImageTextSetFromFolderNode"
        assert outcome.failure.message.startswith("Your input image size does not match the first image")
        graph = training_graph("0.3.64", steps=1)
        graph["2"]["inputs"]["resize_method"] = "Stretch"
        prompt_id, _ = await run(client, fake, graph)
        outcome = await client.history(prompt_id)
        assert outcome is not None
    assert outcome.status == "success"  # multi-resolution came with V3


async def test_bad_inputs_are_refused_like_the_real_server(fake: FakeComfyUI, client: ComfyClient) -> None:
    await upload_set(client, "1_mira", {"a": "mira"})
    generation = fake.training or ""
    with pytest.raises(PromptRejected) as rejected:
        await client.submit(training_graph(generation, folder="training/9_nobody"))
    assert rejected.value.error_type == "prompt_outputs_failed_validation"
    assert any("folder: Value not in list" in p and "'training/9_nobody' not in" in p for p in rejected.value.problems)

    with pytest.raises(PromptRejected) as rejected:
        await client.submit(training_graph(generation, rank=129))
    assert rejected.value.problems == ["node 4 (TrainLoraNode) rank: Value 129 bigger than max of 128"]

    with pytest.raises(PromptRejected) as rejected:
        await client.submit(training_graph(generation, existing_lora="mira_e1_6_steps_00001_.safetensors"))
    [problem] = rejected.value.problems
    assert problem.startswith("node 4 (TrainLoraNode) existing_lora: Value not in list")
    assert fake.history == {}


async def test_existing_lora_continues_the_step_count(fake: FakeComfyUI, client: ComfyClient) -> None:
    await upload_set(client, "1_mira", {"a": "mira"})
    # The studio copied epoch 1 into the server's models/loras; the next chunk continues from it.
    fake.models["loras"] = [*fake.models["loras"], "mira_e1_6_steps_00001_.safetensors"]
    graph = training_graph(fake.training or "", steps=4, existing_lora="mira_e1_6_steps_00001_.safetensors")
    graph["5"]["inputs"]["prefix"] = "loras/mira_e2"
    prompt_id, _ = await run(client, fake, graph)
    outcome = await client.history(prompt_id)
    assert outcome is not None and outcome.status == "success", outcome
    assert (fake.output_dir / "loras" / "mira_e2_10_steps_00001_.safetensors").is_file()

    # A name without `_<N>_steps_` fails in the node, as it parses the steps from the name.
    graph = training_graph(fake.training or "", steps=4, existing_lora="mira_lora.safetensors")
    prompt_id, _ = await run(client, fake, graph)
    outcome = await client.history(prompt_id)
    assert outcome is not None and outcome.failure is not None
    assert (outcome.failure.node_type, outcome.failure.exception_type) == ("TrainLoraNode", "ValueError")
    assert outcome.failure.message == "invalid literal for int() with base 10: 'lora.safetensors'"


async def test_the_save_counter_follows_comfyuis_digit_rule(fake: FakeComfyUI, client: ComfyClient) -> None:
    """get_save_image_path reads the digits after the prefix: after `x_6_steps_00001_` the next is counter 7."""
    await upload_set(client, "1_mira", {"a": "mira"})
    await run(client, fake, training_graph(fake.training or "", steps=6, prefix="loras/shared"))
    await run(client, fake, training_graph(fake.training or "", steps=5, prefix="loras/shared"))
    assert sorted(p.name for p in (fake.output_dir / "loras").iterdir()) == [
        "shared_5_steps_00007_.safetensors",
        "shared_6_steps_00001_.safetensors",
    ]


async def test_an_interrupt_stops_training(fake: FakeComfyUI, client: ComfyClient) -> None:
    await upload_set(client, "1_mira", {"a": "mira"})
    fake.training_step_seconds = 0.02
    socket_task = asyncio.create_task(run(client, fake, training_graph(fake.training or "", steps=40)))
    for _ in range(500):  # until the prompt runs
        if any(e.status == "running" for e in fake.executions):
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.15)
    prompt_id = fake.executions[-1].prompt_id
    await client.interrupt(prompt_id)
    _, seen = await socket_task
    outcome = await client.history(prompt_id)
    assert outcome is not None and outcome.status == "interrupted"
    [execution] = fake.executions
    assert execution.finished_at is not None
    took = execution.finished_at - execution.started_at
    steps_seen = [m.value for m in seen if isinstance(m, Progress) and m.node == "4"]
    if fake.training == "v3":
        assert 0 < len(steps_seen) < 40  # seen after the step in progress: the 40 steps never finish
    else:
        assert took >= 0.8 and steps_seen == []  # tqdm only: the training runs out, the save is skipped
    assert not (fake.output_dir / "loras").exists()


def test_an_unknown_generation_is_refused() -> None:
    with pytest.raises(ValueError, match=r"training='0\.4'"):
        FakeComfyUI(training="0.4")


async def test_a_server_without_training_nodes_refuses_the_graph() -> None:
    with FakeComfyUI() as plain:
        client = ComfyClient(plain.url)
        try:
            with pytest.raises(PromptRejected) as rejected:
                await client.submit(training_graph("0.3.64"))
            assert rejected.value.error_type == "invalid_prompt"
            assert "node LoadImageTextSetFromFolderNode does not exist" in str(rejected.value)
        finally:
            await client.aclose()


async def test_a_cached_loader_does_not_see_files_uploaded_later(fake: FakeComfyUI, client: ComfyClient) -> None:
    """The folder loaders have no IS_CHANGED: the node cache answers for the same folder until memory is freed."""
    await upload_set(client, "1_mira", {"a": "mira"})
    await run(client, fake, training_graph(fake.training or "", steps=1, prefix="loras/first"))
    await upload_set(client, "1_mira", {"b": "mira, new"})
    await run(client, fake, training_graph(fake.training or "", steps=1, prefix="loras/second"))
    assert [load.files for load in fake.dataset_loads] == [("1_mira/a.png",)]
    assert (fake.output_dir / "loras" / "second_1_steps_00001_.safetensors").is_file()  # trained on the old set

    await client.free(free_memory=True)
    await run(client, fake, training_graph(fake.training or "", steps=1, prefix="loras/third"))
    assert fake.dataset_loads[-1].files == ("1_mira/a.png", "1_mira/b.png")


async def test_without_its_steps_input_the_saver_names_the_file_by_counter_only(
    fake: FakeComfyUI, client: ComfyClient
) -> None:
    await upload_set(client, "1_mira", {"a": "mira"})
    graph = training_graph(fake.training or "", steps=2, prefix="loras/plain")
    del graph["5"]["inputs"]["steps"]
    prompt_id, _ = await run(client, fake, graph)
    outcome = await client.history(prompt_id)
    assert outcome is not None and outcome.status == "success"
    assert [p.name for p in (fake.output_dir / "loras").iterdir()] == ["plain_00001_.safetensors"]


async def test_a_server_that_maps_output_loras_into_loras_continues_from_the_saved_file(
    fake: FakeComfyUI, client: ComfyClient
) -> None:
    """extra_model_paths.yaml adding output/loras: the saved chunk is a `existing_lora` choice for the next one."""
    fake.model_folders["loras"] = fake.output_dir / "loras"
    await upload_set(client, "1_mira", {"a": "mira"})
    await run(client, fake, training_graph(fake.training or "", steps=3, prefix="loras/mira_e1"))
    assert "mira_e1_3_steps_00001_.safetensors" in await client.models("loras")
    graph = training_graph(
        fake.training or "", steps=3, prefix="loras/mira_e2", existing_lora="mira_e1_3_steps_00001_.safetensors"
    )
    prompt_id, _ = await run(client, fake, graph)
    outcome = await client.history(prompt_id)
    assert outcome is not None and outcome.status == "success", outcome
    assert (fake.output_dir / "loras" / "mira_e2_6_steps_00001_.safetensors").is_file()
