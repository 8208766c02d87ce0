"""LoRA training with ComfyUI's own training nodes, end to end on SQLite and PostgreSQL and on both node
generations of the fake ComfyUI (0.3.64 names, V3 names): a run queued on a device without sd-scripts, its set
uploaded, one prompt per epoch chained through `existing_lora`, samples from the same prompt, cancel, a
server that cannot see the chunks, a failing node, a studio restart mid-chunk."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from services.errors import Invalid
from services.generation import ImageBatchDraft
from services.jobs import JobProgressed
from services.training.comfy_native import chunk_graph, saved_lora_name, trained_steps
from services.training.presets import preset
from services.training.runs import TrainingRunProgressed
from services.training.safetensors_meta import read_metadata
from studio.config import DeviceSettings, Settings
from studio.models import Character, JobState, TrainingRun
from studio.root import Studio
from tests.bible_helpers import PEACH
from tests.fakes import FakeComfyUI
from tests.integration.test_comfy_worker import _until
from tests.integration.test_fake_comfyui_training import servers  # noqa: F401 (the fixture of both generations)
from tests.integration.test_training_export import SD15, add_images, cast

CHECKPOINT = "dreamshaper_8.safetensors"  # an SD 1.5 checkpoint the fake has
PROMPTS = ["pch, 1girl, solo, full body", "pch, 1girl, portrait, smiling"]


@pytest.fixture(params=["0.3.64", "v3"])
def fake(request: pytest.FixtureRequest, servers: dict[str, FakeComfyUI]) -> Iterator[FakeComfyUI]:  # noqa: F811
    server = servers[request.param]
    server.reset()
    server.job_seconds = 0.01
    server.training_step_seconds = 0.004
    yield server
    server.reset()


def settings_for(tmp_path: Path, database_url: str, fake: FakeComfyUI, *, loras_dir: bool = True) -> Settings:
    loras = tmp_path / "comfy-loras"
    if loras_dir:
        loras.mkdir(exist_ok=True)
        fake.model_folders["loras"] = loras  # the device's LoRA folder is that ComfyUI's models/loras
    device = DeviceSettings(name="gpu", comfyui_url=fake.url, loras_dir=loras if loras_dir else None)
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        devices=[device],
        job_claim_poll_seconds=0.2,
        training_min_images=3,
    )


async def started(settings: Settings) -> Studio:
    studio = Studio.build(settings)
    studio.migrate()
    await studio.start()
    studio.job_handlers.remote["lora.train"].comfy.poll_seconds = 0.2  # type: ignore[attr-defined]
    return studio


@pytest.fixture
async def studio(tmp_path: Path, database_url: str, fake: FakeComfyUI) -> AsyncIterator[Studio]:
    built = await started(settings_for(tmp_path, database_url, fake))
    try:
        yield built
    finally:
        await built.stop()


async def peach(studio: Studio) -> Character:
    # Drawn with the checkpoint the fake has: the character's images after training render on it too.
    character = await cast(studio, PEACH, SD15.model_copy(update={"checkpoint_model": CHECKPOINT}))
    assert character.id is not None
    await studio.tags.set_trigger(character.id, "pch", "test")
    await add_images(studio, character, 3)
    return character


async def start(studio: Studio, character: Character, *, epochs: int = 3) -> TrainingRun:
    overrides = {"base_checkpoint": CHECKPOINT, "epochs": epochs, "repeats": 2, "sample_prompts": PROMPTS}
    return await studio.training.start(character.id, "gpu", "sd15-8gb", overrides, "aiko")  # type: ignore[arg-type]


async def settled(studio: Studio, run_id: int, within: float = 20) -> TrainingRun:
    async def finished() -> bool:
        return (await studio.training.get(run_id)).state not in ("queued", "running")

    await _until(finished, within, f"training run {run_id} to finish")
    return await studio.training.get(run_id)


def trained(fake: FakeComfyUI) -> list[dict[str, Any]]:
    """The TrainLoraNode inputs of each training prompt the fake ran, in order."""
    found = []
    for entry in sorted(fake.history.values(), key=lambda e: e["prompt"][0]):
        graph = entry["prompt"][2]
        found += [node["inputs"] for node in graph.values() if node["class_type"] == "TrainLoraNode"]
    return found


async def test_a_run_trains_three_chained_epochs_with_samples_and_registers(
    studio: Studio, fake: FakeComfyUI, tmp_path: Path
) -> None:
    messages: list[str] = []
    steps: list[int] = []
    studio.events.subscribe(JobProgressed, lambda event: messages.append(event.message))
    studio.events.subscribe(TrainingRunProgressed, lambda event: steps.append(event.step))
    character = await peach(studio)
    run = await start(studio, character)
    assert run.trainer == "comfyui" and run.params["base_checkpoint"] == CHECKPOINT
    run = await settled(studio, run.id)  # type: ignore[arg-type]
    assert run.state == "succeeded", run.error
    assert [e["epoch"] for e in run.epochs] == [1, 2, 3]
    assert (run.step, run.steps_total) == (18, 18)  # 3 images x 2 repeats a batch of 1, 3 epochs

    # One prompt per epoch: 6 steps each, each later one continuing from the one before, which the studio
    # copied into the device's LoRA folder (ComfyUI's models/loras) and the server then listed.
    chunks = trained(fake)
    assert [c["steps"] for c in chunks] == [6, 6, 6]
    assert chunks[0]["existing_lora"] == "[None]"
    names = [Path(e["file"]).name for e in run.epochs]
    assert [trained_steps(name) for name in names] == [6, 12, 18]
    assert [c["existing_lora"] for c in chunks[1:]] == [f"anime-studio/{name}" for name in names[:2]]
    assert sorted(p.name for p in (tmp_path / "comfy-loras" / "anime-studio").iterdir()) == names[:2]

    # The set went up into a new input folder as a kohya repeat folder with its captions.
    [load] = {(d.folder, d.files) for d in fake.dataset_loads}
    assert load[0].startswith(f"anime-studio/run{run.id}-")
    assert len(load[1]) == 6 and all(f.startswith("2_pch ") for f in load[1])

    for entry in run.epochs:
        assert read_metadata(studio.media.path_of(entry["file"])) is not None  # a readable LoRA
        assert len(entry["samples"]) == 2
        for sample in entry["samples"]:
            assert studio.media.path_of(sample).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Every epoch sampled the same prompts with the same seeds, from the trainer's MODEL output.
    seeds = []
    for entry in sorted(fake.history.values(), key=lambda e: e["prompt"][0]):
        graph = entry["prompt"][2]
        trainer = next(i for i, n in graph.items() if n["class_type"] == "TrainLoraNode")
        samplers = [n for n in graph.values() if n["class_type"] == "KSampler"]
        assert all(n["inputs"]["model"] == [trainer, 0] for n in samplers)
        seeds.append(sorted(n["inputs"]["seed"] for n in samplers))
    assert seeds == [[1234, 1235]] * 3

    if fake.training == "0.3.64":
        assert "epoch 2 of 3: training (ComfyUI reports no steps)" in messages
        assert sorted(set(steps)) == [6, 12, 18]  # known only at the chunks' ends
    else:
        assert {7, 8, 9, 10, 11} <= set(steps)  # one report per optimizer step

    await studio.training.scoring_settled(run.id)  # type: ignore[arg-type]
    registered = await studio.training.register(run.id, 3, "aiko")  # type: ignore[arg-type]
    assert "gpu's ComfyUI lists it" in registered.message

    # The character's next image loads the registered epoch with its trigger word first, in a graph the fake
    # ComfyUI validated against the node specs when it was queued.
    [job] = await studio.images.generate(character.id, ImageBatchDraft(count=1, use_reference=False), "aiko")  # type: ignore[arg-type]
    await _until(lambda: job_ended(studio, job.id), 20, "the image job")  # type: ignore[arg-type]
    done = await studio.jobs.get(job.id)  # type: ignore[arg-type]
    assert done.state == JobState.SUCCEEDED, done.error
    graph = next(e["prompt"][2] for e in fake.history.values() if e["prompt"][1] == done.external_handle)
    [loader] = [node for node in graph.values() if node["class_type"] == "LoraLoader"]
    assert loader["inputs"]["lora_name"] == registered.lora.lora.file_name
    texts = [node["inputs"]["text"] for node in graph.values() if node["class_type"] == "CLIPTextEncode"]
    assert any(text.startswith("pch, ") for text in texts)


async def job_ended(studio: Studio, job_id: int) -> bool:
    return (await studio.jobs.get(job_id)).state not in (JobState.QUEUED, JobState.RUNNING)


async def test_an_image_job_gets_the_gpu_between_two_chunks(studio: Studio, fake: FakeComfyUI) -> None:
    fake.training_step_seconds = 0.05  # 0.3 s a chunk: the image is asked for while epoch 2 trains
    character = await peach(studio)
    run = await start(studio, character)

    async def first_epoch_saved() -> bool:
        return bool((await studio.training.get(run.id)).epochs)  # type: ignore[arg-type]

    await _until(first_epoch_saved, 20, "epoch 1")
    [job] = await studio.images.generate(character.id, ImageBatchDraft(count=1, use_reference=False), "aiko")  # type: ignore[arg-type]
    run = await settled(studio, run.id)  # type: ignore[arg-type]
    assert run.state == "succeeded", run.error
    await _until(lambda: job_ended(studio, job.id), 20, "the image job")  # type: ignore[arg-type]
    job = await studio.jobs.get(job.id)  # type: ignore[arg-type]
    # ComfyUI ran the prompts in the order they were queued: the image went in before the last chunk.
    order = [e["prompt"][1] for e in sorted(fake.history.values(), key=lambda e: e["prompt"][0])]
    chunks = [
        e["prompt"][1]
        for e in fake.history.values()
        if any(n["class_type"] == "TrainLoraNode" for n in e["prompt"][2].values())
    ]
    last_chunk = max(chunks, key=order.index)
    assert job.state == JobState.SUCCEEDED and order.index(job.external_handle) < order.index(last_chunk)


async def test_a_server_that_maps_its_output_folder_continues_without_a_lora_folder(
    tmp_path: Path, database_url: str, fake: FakeComfyUI
) -> None:
    """extra_model_paths.yaml adding output/loras: the chunks continue from the files where SaveLoRA put them."""
    studio = await started(settings_for(tmp_path, database_url, fake, loras_dir=False))
    try:
        fake.model_folders["loras"] = fake.output_dir / "loras"
        run = await start(studio, await peach(studio), epochs=2)
        run = await settled(studio, run.id)  # type: ignore[arg-type]
        assert run.state == "succeeded", run.error
        [second] = trained(fake)[1:]
        assert second["existing_lora"] == f"anime-studio/{Path(run.epochs[0]['file']).name}"
    finally:
        await studio.stop()


async def test_a_server_that_cannot_see_the_saved_epoch_fails_saying_what_to_change(
    tmp_path: Path, database_url: str, fake: FakeComfyUI
) -> None:
    studio = await started(settings_for(tmp_path, database_url, fake, loras_dir=False))
    try:
        run = await start(studio, await peach(studio))
        run = await settled(studio, run.id)  # type: ignore[arg-type]
        assert run.state == "failed"
        assert [e["epoch"] for e in run.epochs] == [1]  # the epoch before is kept
        assert run.error is not None
        assert f"ComfyUI at {fake.url} cannot see epoch 1's LoRA" in run.error
        assert "set device gpu's LoRA folder (loras_dir)" in run.error
        assert "add ComfyUI's output/loras folder to its extra_model_paths.yaml" in run.error
        assert "retry continues from epoch 1" in run.error
        assert len(trained(fake)) == 1
    finally:
        await studio.stop()


async def test_cancel_mid_run_keeps_the_saved_epochs_and_a_retry_continues(studio: Studio, fake: FakeComfyUI) -> None:
    fake.training_step_seconds = 0.05  # 0.3 s an epoch
    run = await start(studio, await peach(studio), epochs=4)
    assert run.id is not None

    async def one_saved() -> bool:
        return (await studio.training.get(run.id)).epochs_done >= 1  # type: ignore[arg-type]

    await _until(one_saved, 20, "epoch 1 to be saved")
    await studio.training.cancel(run.id, "aiko")
    cancelled = await settled(studio, run.id)
    assert cancelled.state == "cancelled"
    kept = [e["epoch"] for e in cancelled.epochs]
    assert kept and kept == list(range(1, len(kept) + 1))

    async def stopped() -> bool:
        return all(e.status != "running" for e in fake.executions)

    await _until(stopped, 5, "the chunk's prompt to stop")
    statuses = [e.status for e in fake.executions]
    # Each finished chunk is a kept epoch; the one under way (if it was queued yet) was interrupted.
    assert statuses in (["success"] * len(kept), ["success"] * len(kept) + ["interrupted"])

    fake.training_step_seconds = 0.004
    await studio.training.retry(run.id, "aiko")
    done = await settled(studio, run.id)
    assert done.state == "succeeded", done.error
    assert [e["epoch"] for e in done.epochs] == [1, 2, 3, 4]
    chunks = trained(fake)
    resumed = chunks[-(4 - len(kept))]  # the retry's first chunk continues from the last kept epoch
    assert resumed["existing_lora"] == f"anime-studio/{Path(cancelled.epochs[-1]['file']).name}"
    assert [trained_steps(Path(e["file"]).name) for e in done.epochs] == [6, 12, 18, 24]


async def test_a_failing_node_is_named_and_the_run_fails(studio: Studio, fake: FakeComfyUI) -> None:
    fake.fail_next("CUDA out of memory", node_type="TrainLoraNode", exception_type="OutOfMemoryError")
    run = await start(studio, await peach(studio))
    run = await settled(studio, run.id)  # type: ignore[arg-type]
    assert run.state == "failed"
    assert run.error is not None
    assert "epoch 1 of 3 on gpu's ComfyUI failed: OutOfMemoryError in Train LoRA" in run.error
    assert "TrainLoraNode" in run.error and "no epoch is saved" in run.error


async def test_a_studio_restart_mid_chunk_continues_from_the_last_saved_epoch(
    tmp_path: Path, database_url: str, fake: FakeComfyUI
) -> None:
    settings = settings_for(tmp_path, database_url, fake)
    studio = await started(settings)
    fake.training_step_seconds = 0.05
    try:
        run = await start(studio, await peach(studio), epochs=3)
        assert run.id is not None

        async def in_epoch_two() -> bool:
            saved = (await studio.training.get(run.id)).epochs_done  # type: ignore[arg-type]
            return saved == 1 and [e.status for e in fake.executions] == ["success", "running"]

        await _until(in_epoch_two, 20, "epoch 2 to start")
    finally:
        await studio.stop()
    # The studio's stop interrupted the chunk under way: nothing will collect it.
    await _until(lambda: asyncio.sleep(0, fake.executions[-1].status != "running"), 5, "the chunk to stop")
    assert [e.status for e in fake.executions] == ["success", "interrupted"]
    fake.training_step_seconds = 0.004
    studio = await started(settings)
    try:
        done = await settled(studio, run.id)
        assert done.state == "succeeded", done.error
        assert [e["epoch"] for e in done.epochs] == [1, 2, 3]  # no epoch saved twice
        assert [trained_steps(Path(e["file"]).name) for e in done.epochs] == [6, 12, 18]
        assert [e.status for e in fake.executions] == ["success", "interrupted", "success", "success"]
        job = await studio.jobs.get(done.job_id)  # type: ignore[arg-type]
        assert job.state == JobState.SUCCEEDED
    finally:
        await studio.stop()


async def test_a_device_without_sd_scripts_or_training_nodes_is_refused_naming_both_fixes(
    tmp_path: Path, database_url: str
) -> None:
    with FakeComfyUI() as plain:
        settings = Settings(
            data_dir=tmp_path / "data",
            database_url=database_url,
            devices=[DeviceSettings(name="gpu", comfyui_url=plain.url)],
            training_min_images=3,
        )
        studio = await started(settings)
        try:
            character = await peach(studio)
            with pytest.raises(Invalid) as refused:
                await start(studio, character)
            assert "set its kohya sd-scripts folder (kohya_dir)" in refused.value.message
            assert "a ComfyUI with the training nodes" in refused.value.message
            assert "this server has none of them" in refused.value.message
        finally:
            await studio.stop()


def test_the_chunk_graph_uses_each_generations_node_names() -> None:
    from services.comfyui import TrainingNodes

    params = preset("sd15-8gb").model_copy(update={"base_checkpoint": CHECKPOINT, "optimizer": "AdamW8bit"})
    old = TrainingNodes("0.3.64", "LoadImageTextSetFromFolderNode", "VAEEncode", "TrainLoraNode", "SaveLoRANode", None)
    new = TrainingNodes(
        "v3", "LoadImageTextDataSetFromFolder", "MakeTrainingDataset", "TrainLoraNode", "SaveLoRA", None
    )
    for nodes in (old, new):
        chunk = chunk_graph(
            nodes,
            params,
            folder="anime-studio/run1-abc",
            steps=6,
            seed=1,
            existing_lora="[None]",
            lora_prefix="loras/anime-studio/x-e1",
            sample_prefix="anime-studio/training/x-e1",
            sample_prompts=[],
        )
        classes = [n["class_type"] for n in chunk.graph.values()]
        assert classes == ["CheckpointLoaderSimple", nodes.folder_loader, nodes.dataset, "TrainLoraNode", nodes.saver]
        assert chunk.graph[chunk.trainer]["inputs"]["optimizer"] == "AdamW"
    assert saved_lora_name("x-e2", 12) == "x-e2_12_steps_00001_.safetensors"
    assert trained_steps("anime-studio/x-e2_12_steps_00001_.safetensors") == 12


async def test_a_comfyui_restart_mid_chunk_fails_the_run_keeping_the_saved_epochs(
    studio: Studio, fake: FakeComfyUI
) -> None:
    fake.training_step_seconds = 0.05
    run = await start(studio, await peach(studio))
    assert run.id is not None

    async def in_epoch_two() -> bool:
        saved = (await studio.training.get(run.id)).epochs_done  # type: ignore[arg-type]
        return saved == 1 and [e.status for e in fake.executions] == ["success", "running"]

    await _until(in_epoch_two, 20, "epoch 2 to start")
    await asyncio.to_thread(fake.restart)  # the running prompt and the history are gone
    failed = await settled(studio, run.id)
    assert failed.state == "failed"
    assert failed.error == (
        f"ComfyUI at {fake.url} lost the prompt of epoch 2 of 3 (did it restart?); retry continues from the last "
        "saved epoch"
    )
    assert [e["epoch"] for e in failed.epochs] == [1]


async def test_a_comfyui_that_is_down_fails_the_run_saying_so(studio: Studio, fake: FakeComfyUI) -> None:
    character = await peach(studio)
    run = await start(studio, character)  # the nodes were there when it was queued
    fake.down = True
    try:
        failed = await settled(studio, run.id)  # type: ignore[arg-type]
    finally:
        fake.down = False
    assert failed.state == "failed"
    assert failed.error is not None and failed.error.startswith(f"ComfyUI at {fake.url} is unreachable")
    assert failed.error.endswith("(no epoch is saved)")
