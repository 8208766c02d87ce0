"""LoRA training runs on SQLite and PostgreSQL, through the real job queue and device worker: start refusals (REST
status codes), the queue position, the run mirroring its job, a restart continuing or failing a run left running,
and registering an epoch (a real safetensors file) copied into the device's loras folder and checked against the
fake ComfyUI's `/models/loras`.

The trainer here is a test-only RemoteJobHandler for TRAIN_JOB that reports through the runs' own `begin`,
`progress` and `epoch_saved` (a fake trainer through the real queue; the kohya runner has its own tests).
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from safetensors.numpy import save_file
from sqlmodel import select

from services.bible.schemas import CharacterDraft, ProjectDraft, StyleDraft
from services.errors import Conflict, Invalid, NotFound
from services.jobs import ProgressSink
from services.training import TRAIN_JOB, TrainingRuns
from studio.config import DeviceSettings, Settings
from studio.models import Character, CharacterLora, DeviceConnection, Job, JobState, TrainingRun
from studio.root import Studio
from tests.bible_helpers import KOOPA, PEACH, png
from tests.fakes import FakeComfyUI
from tests.integration.test_api import guarded_api
from tests.integration.test_training_export import add_images

NOOB = StyleDraft(name="noob", checkpoint_model="noobaiXL_v10.safetensors")
LOOPBACK = ("127.0.0.1", 40000)
FAST = {"epochs": 2, "sample_prompts": ["front view", "smiling"]}


class FakeTrainer:
    """Trains `epochs_total` epochs of a few steps, saving a real small LoRA file and one PNG per sample prompt
    each epoch; continues after the last saved epoch; waits at `gate` (when set) after each saved epoch."""

    kind = TRAIN_JOB
    app = "kohya"

    def __init__(self, training: TrainingRuns) -> None:
        self.training = training
        self.gate: asyncio.Event | None = None
        self.fail_at_epoch: int | None = None
        self.started_from: list[int] = []
        # Each sample image's bytes by (epoch, prompt index): plain colours unless a test draws its own.
        self.draw: Callable[[int, int], bytes] = lambda epoch, index: png(color=(epoch * 40, index * 60, 10))

    def app_url(self, device: DeviceSettings) -> str | None:
        return str(device.kohya_dir) if device.kohya_dir is not None else None

    async def run(self, job: Job, device: DeviceSettings, progress: ProgressSink) -> dict[str, Any]:
        run_id = job.payload["run_id"]
        run = await self.training.get(run_id)
        done, last = await self.training.resume_point(run_id)
        assert (last is None) == (done == 0)
        self.started_from.append(done)
        out = self.training.run_dir(run_id) / "output"
        out.mkdir(parents=True, exist_ok=True)
        steps_per_epoch = 3
        total = run.epochs_total * steps_per_epoch
        await self.training.begin(run_id, total, run.epochs_total, out / "train.log")
        for epoch in range(done + 1, run.epochs_total + 1):
            if epoch == self.fail_at_epoch:
                raise Invalid("trainer", f"CUDA out of memory at epoch {epoch}")
            for step in range((epoch - 1) * steps_per_epoch + 1, epoch * steps_per_epoch + 1):
                await self.training.progress(
                    run_id,
                    step=step,
                    steps_total=total,
                    epoch=epoch,
                    loss=0.2 - step / 100,
                    speed="2.0 it/s",
                    eta_seconds=(total - step) / 2,
                )
            lora = out / f"koopa-{epoch:06d}.safetensors"
            save_file({"lora_unet_down.weight": np.zeros((4, 4), np.float32)}, str(lora), {"ss_epoch": str(epoch)})
            samples = []
            for index in range(len(run.params["sample_prompts"])):
                sample = out / "sample" / f"koopa_e{epoch:06d}_{index:02d}_20261207_{1234 + index}.png"
                sample.parent.mkdir(exist_ok=True)
                sample.write_bytes(self.draw(epoch, index))
                samples.append(sample)
            await self.training.epoch_saved(run_id, epoch, lora, samples)
            if self.gate is not None:
                await self.gate.wait()
        return {"epochs": run.epochs_total}


@pytest.fixture
def comfy() -> Iterator[FakeComfyUI]:
    with FakeComfyUI(job_seconds=0.01) as fake:
        yield fake


@pytest.fixture
def settings(tmp_path: Path, database_url: str, comfy: FakeComfyUI) -> Settings:
    sd_scripts = tmp_path / "sd-scripts"
    sd_scripts.mkdir()
    (sd_scripts / "train_network.py").write_text("# sd-scripts\n")
    (sd_scripts / "sdxl_train_network.py").write_text("# sd-scripts\n")
    loras = tmp_path / "comfy-loras"
    loras.mkdir()
    comfy.model_folders["loras"] = loras
    python = Path(sys.executable)
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        devices=[
            DeviceSettings(
                name="gpu1", comfyui_url=comfy.url, kohya_dir=sd_scripts, kohya_python=python, loras_dir=loras
            ),
            DeviceSettings(name="gpu2", kohya_dir=sd_scripts, kohya_python=python),  # no ComfyUI: memory unknown
            DeviceSettings(name="render", comfyui_url=comfy.url),  # renders, does not train
            DeviceSettings(name="novenv", kohya_dir=sd_scripts),  # sd-scripts without its venv's Python
        ],
        training_min_images=3,
        job_claim_poll_seconds=0.2,
    )


async def started(settings: Settings) -> tuple[Studio, FakeTrainer]:
    studio = Studio.build(settings)
    studio.migrate()
    trainer = FakeTrainer(studio.training)
    # The kohya runner may already be registered for the kind: this test's trainer takes its place.
    studio.job_handlers.remote[TRAIN_JOB] = trainer
    await studio.workers.apply()
    await studio.start()
    return studio, trainer


@pytest.fixture
async def studio_and_trainer(settings: Settings) -> AsyncIterator[tuple[Studio, FakeTrainer]]:
    studio, trainer = await started(settings)
    yield studio, trainer
    if trainer.gate is not None:
        trainer.gate.set()
    await studio.stop()


@pytest.fixture
async def api(studio_and_trainer: tuple[Studio, FakeTrainer]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=guarded_api(studio_and_trainer[0]), client=LOOPBACK)
    async with httpx.AsyncClient(transport=transport, base_url="http://studio/api") as client:
        yield client


async def character(studio: Studio, draft: CharacterDraft = KOOPA, images: int = 3) -> Character:
    if not any(s.name == NOOB.name for s in await studio.styles.list()):
        await studio.styles.create(NOOB, "test")
    project = await studio.projects.create(
        ProjectDraft(name=f"Castle {uuid.uuid4().hex[:6]}", default_style=NOOB.name), "test"
    )
    made = await studio.characters.create(project.id, draft, "test")  # type: ignore[arg-type]
    await add_images(studio, made, images)
    return made


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def state_is(studio: Studio, run_id: int, *states: str) -> None:
    async def check() -> bool:
        return (await studio.training.get(run_id)).state in states

    await until(check)


async def test_start_refusals_name_what_to_fix(
    studio_and_trainer: tuple[Studio, FakeTrainer], api: httpx.AsyncClient
) -> None:
    studio, trainer = studio_and_trainer
    trainer.gate = asyncio.Event()
    koopa = await character(studio)
    few = await character(studio, PEACH, images=1)
    path = f"/characters/{koopa.id}/training-runs"

    async def refused(url: str, body: dict[str, Any], status: int) -> str:
        response = await api.post(url, json=body)
        assert response.status_code == status, response.text
        return response.text

    assert "no character" in await refused("/characters/999999/training-runs", {"device": "gpu1", "preset": "x"}, 404)
    assert "no device 'nope'" in await refused(path, {"device": "nope", "preset": "noobai-12gb"}, 404)
    assert "kohya_dir" in await refused(path, {"device": "render", "preset": "noobai-12gb"}, 422)
    assert "trainer Python" in await refused(path, {"device": "novenv", "preset": "noobai-12gb"}, 422)
    assert "no training preset" in await refused(path, {"device": "gpu1", "preset": "sdxl-3gb"}, 422)
    text = await refused(path, {"device": "gpu1", "preset": "noobai-12gb", "overrides": {"rank": 500}}, 422)
    assert "overrides.rank" in text
    text = await refused(path, {"device": "gpu1", "preset": "noobai-12gb", "overrides": {"resolution": 1000}}, 422)
    assert "multiple of 64" in text
    text = await refused(path, {"device": "gpu1", "preset": "noobai-12gb", "overrides": {"sample_prompts": []}}, 422)
    assert "sample_prompts" in text
    # The character is drawn with an SDXL (NoobAI) style: an SD 1.5 LoRA could never load on it.
    assert "SD 1.5 LoRA" in await refused(path, {"device": "gpu1", "preset": "sd15-12gb"}, 422)
    # The fake ComfyUI reports a 12 GB card.
    text = await refused(path, {"device": "gpu1", "preset": "sdxl-24gb"}, 422)
    assert "needs 24 GB" in text and "12.0 GB" in text
    text = await refused(f"/characters/{few.id}/training-runs", {"device": "gpu1", "preset": "noobai-12gb"}, 422)
    assert "has 1 approved image" in text
    assert await studio.training.list() == []  # nothing refused left a run behind

    response = await api.post(path, json={"device": "gpu1", "preset": "noobai-12gb", "overrides": FAST})
    assert response.status_code == 201, response.text
    run = response.json()
    assert run["state"] in ("queued", "running") and run["trainer"] == "kohya" and run["error"] is None
    assert run["params"]["base_checkpoint"] == NOOB.checkpoint_model  # the style's checkpoint, not the preset's
    folder = studio.training.run_dir(run["id"])
    assert (folder / "dataset" / "dataset.toml").is_file()
    prompts = (folder / "sample_prompts.txt").read_text().splitlines()
    assert prompts[0].startswith("front view --n ") and "--w 1024 --h 1024 --d 1234" in prompts[0]
    assert "--d 1235" in prompts[1]
    assert "already has training run" in await refused(path, {"device": "gpu1", "preset": "noobai-12gb"}, 409)

    # Another device whose memory nobody reports: accepted, with a note saying so. Two starts at once: one wins.
    other = await character(studio, CharacterDraft(name="Toad"))
    both = await asyncio.gather(
        *(studio.training.start(other.id, "gpu2", "noobai-12gb", FAST, "test") for _ in range(2)),  # type: ignore[arg-type]
        return_exceptions=True,
    )
    [queued] = [result for result in both if isinstance(result, TrainingRun)]
    assert [type(result) for result in both if not isinstance(result, TrainingRun)] == [Conflict]
    assert queued.error is not None and "could not tell gpu2's GPU memory" in queued.error
    assert len(await studio.training.list(character_id=other.id)) == 1
    with pytest.raises(NotFound):
        await studio.training.get(999_999)
    with pytest.raises(Invalid, match="unknown state"):
        await studio.training.list(state="stuck")


async def test_run_mirrors_its_job_and_registers_an_epoch(
    studio_and_trainer: tuple[Studio, FakeTrainer], api: httpx.AsyncClient, comfy: FakeComfyUI, settings: Settings
) -> None:
    studio, _trainer = studio_and_trainer
    koopa = await character(studio)
    run = await studio.training.start(koopa.id, "gpu1", "noobai-12gb", FAST, "aiko")
    await state_is(studio, run.id, "succeeded")  # type: ignore[arg-type]
    done = await studio.training.get(run.id)  # type: ignore[arg-type]
    assert (done.epochs_done, done.epochs_total, done.steps_total, done.error) == (2, 2, 6, None)
    assert done.finished_at is not None and done.log_path.endswith("train.log")
    assert done.loss and done.loss[-1][0] == 6  # the last point is written when the run ends, throttle or not
    assert [e["epoch"] for e in done.epochs] == [1, 2]
    job = await studio.jobs.get(done.job_id)  # type: ignore[arg-type]
    assert job.state == JobState.SUCCEEDED

    samples = (await api.get(f"/training-runs/{run.id}/samples")).json()
    assert [(e["epoch"], [s["prompt"] for s in e["samples"]]) for e in samples] == [
        (1, ["front view", "smiling"]),
        (2, ["front view", "smiling"]),
    ]
    image = await api.get(samples[1]["samples"][1]["url"].removeprefix("/api"))  # the client is based at /api
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    assert (await api.get(f"/training-runs/{run.id}/epochs/3/samples/0")).status_code == 404

    response = await api.post(f"/training-runs/{run.id}/register", json={"epoch": 2})
    assert response.status_code == 200, response.text
    result = response.json()
    name = f"anime-studio/{koopa.slug}-{run.id}-e2.safetensors"
    loras_dir = settings.devices[0].loras_dir
    assert loras_dir is not None and (loras_dir / name).is_file()
    assert result["copied_to"] == str(loras_dir / name)
    assert "gpu1's ComfyUI lists it" in result["message"]
    lora = result["registration"]["lora"]
    assert (lora["file_name"], lora["epoch"], lora["run_id"], lora["family"], lora["family_label"]) == (
        name,
        2,
        run.id,
        "sdxl",
        "NoobAI",
    )
    assert lora["metadata"]["ss_epoch"] == "2" and lora["active"]
    active = await studio.loras.active(koopa.id)  # type: ignore[arg-type]
    assert active is not None and active.file_name == name

    # A corrupt epoch file is refused, naming it; an epoch never saved is a 404.
    studio.media.path_of(done.epochs[0]["file"]).write_bytes(b"not a safetensors file")
    response = await api.post(f"/training-runs/{run.id}/register", json={"epoch": 1})
    assert response.status_code == 422 and "koopa-000001.safetensors" in response.text
    assert (await api.post(f"/training-runs/{run.id}/register", json={"epoch": 7})).status_code == 404
    async with studio.db.session() as session:
        registered = (await session.exec(select(CharacterLora).where(CharacterLora.run_id == run.id))).all()
    assert len(registered) == 1

    assert (await api.delete(f"/training-runs/{run.id}")).status_code == 409  # finished: nothing to cancel
    assert (await api.post(f"/training-runs/{run.id}/retry")).status_code == 409  # succeeded


async def test_register_on_a_device_without_comfyui_says_what_to_copy_where(
    studio_and_trainer: tuple[Studio, FakeTrainer], comfy: FakeComfyUI
) -> None:
    """gpu2 trains but has no ComfyUI and no LoRA folder: nothing lists the file there, so the message says which
    file to copy from the trainer's machine into which ComfyUI folder, naming the boxes that do not have it."""
    studio, _trainer = studio_and_trainer
    koopa = await character(studio)
    elsewhere = await character(studio, PEACH)  # another project's character
    run = await studio.training.start(koopa.id, "gpu2", "noobai-12gb", FAST, "aiko")  # type: ignore[arg-type]
    other = await studio.training.start(elsewhere.id, "gpu1", "noobai-12gb", FAST, "aiko")  # type: ignore[arg-type]
    await state_is(studio, run.id, "succeeded")  # type: ignore[arg-type]
    assert [r.id for r in await studio.training.list(project_id=koopa.project_id)] == [run.id]
    assert [r.id for r in await studio.training.list(project_id=elsewhere.project_id)] == [other.id]
    assert await studio.training.list(project_id=999_999) == []

    result = await studio.training.register(run.id, 2, "aiko")  # type: ignore[arg-type]
    name = f"anime-studio/{koopa.slug}-{run.id}-e2.safetensors"
    source = studio.media.path_of((await studio.training.get(run.id)).epochs[1]["file"])  # type: ignore[arg-type]
    assert result.copied_to is None
    assert "lists" not in result.message, result.message
    assert result.message.startswith("gpu2 has no ComfyUI: ")
    assert f"copy {source} from the trainer's machine to ComfyUI/models/loras/{name}" in result.message
    assert "(gpu1, render)" in result.message  # the ComfyUI boxes that do not have it yet
    await state_is(studio, other.id, "succeeded")  # type: ignore[arg-type]


async def test_queue_position_cancel_failure_and_retry(
    studio_and_trainer: tuple[Studio, FakeTrainer], api: httpx.AsyncClient
) -> None:
    studio, trainer = studio_and_trainer
    trainer.gate = asyncio.Event()
    first, second, third = [await character(studio, draft) for draft in (KOOPA, PEACH, CharacterDraft(name="Toad"))]
    running = await studio.training.start(first.id, "gpu1", "noobai-12gb", FAST, "aiko")  # type: ignore[arg-type]
    await state_is(studio, running.id, "running")  # type: ignore[arg-type]
    waiting = await studio.training.start(second.id, "gpu1", "noobai-12gb", FAST, "aiko")  # type: ignore[arg-type]
    last = await studio.training.start(third.id, "gpu1", "noobai-12gb", FAST, "aiko")  # type: ignore[arg-type]

    listed = {run["id"]: run for run in (await api.get("/training-runs", params={"state": "queued"})).json()}
    assert {run_id: run["queue_position"] for run_id, run in listed.items()} == {waiting.id: 1, last.id: 2}
    mine = (await api.get("/training-runs", params={"character_id": first.id})).json()
    assert [(run["id"], run["state"], run["queue_position"]) for run in mine] == [(running.id, "running", None)]

    response = await api.delete(f"/training-runs/{waiting.id}")
    assert response.status_code == 200 and response.json()["state"] == "cancelled"
    assert (await api.get(f"/training-runs/{last.id}")).json()["queue_position"] == 1

    # The trainer fails in its second epoch: the run fails with the trainer's message and keeps epoch 1.
    trainer.fail_at_epoch = 2
    trainer.gate.set()
    await state_is(studio, running.id, "failed")  # type: ignore[arg-type]
    failed = await studio.training.get(running.id)  # type: ignore[arg-type]
    assert failed.error is not None and "CUDA out of memory at epoch 2" in failed.error
    assert failed.epochs_done == 1

    await state_is(studio, last.id, "failed")  # type: ignore[arg-type]  # same trainer, same fault
    trainer.fail_at_epoch = None
    response = await api.post(f"/training-runs/{running.id}/retry")
    assert response.status_code == 200, response.text
    assert response.json()["error"] == "continues from epoch 1"
    await state_is(studio, running.id, "succeeded")  # type: ignore[arg-type]
    assert trainer.started_from[-1] == 1
    assert (await studio.training.get(running.id)).epochs_done == 2  # type: ignore[arg-type]
    with pytest.raises(Conflict):
        await studio.training.cancel(running.id, "aiko")  # type: ignore[arg-type]

    # Retrying the job itself (the Jobs page) takes its run along.
    await studio.jobs.retry(last.job_id, "aiko")  # type: ignore[arg-type]
    await state_is(studio, last.id, "succeeded")  # type: ignore[arg-type]
    retried = await studio.training.get(last.id)  # type: ignore[arg-type]
    assert (retried.epochs_done, retried.error) == (2, "continues from epoch 1")


async def test_a_run_left_running_continues_after_a_restart_or_fails(settings: Settings) -> None:
    studio, trainer = await started(settings)
    trainer.gate = asyncio.Event()
    try:
        koopa = await character(studio)
        peach = await character(studio, PEACH)
        continued = await studio.training.start(koopa.id, "gpu1", "noobai-12gb", FAST, "aiko")  # type: ignore[arg-type]
        stranded = await studio.training.start(peach.id, "gpu2", "noobai-12gb", FAST, "aiko")  # type: ignore[arg-type]

        async def both_saved_an_epoch() -> bool:
            runs = [await studio.training.get(r.id) for r in (continued, stranded)]  # type: ignore[arg-type]
            return all(run.epochs_done == 1 for run in runs)

        await until(both_saved_an_epoch)
    finally:
        await studio.stop()  # the studio stops mid-run: both jobs stay "running"
    async with studio.db.session() as session:
        assert (await session.get(TrainingRun, continued.id)).state == "running"  # type: ignore[union-attr]

    # On the next start gpu2 no longer trains: its run fails, saying how to continue; gpu1's continues.
    devices = [d if d.name != "gpu2" else DeviceSettings(name="gpu2") for d in settings.devices]
    again, trainer = await started(settings.model_copy(update={"devices": devices}))
    try:
        await state_is(again, stranded.id, "failed")  # type: ignore[arg-type]
        failed = await again.training.get(stranded.id)  # type: ignore[arg-type]
        assert failed.error is not None and "no longer trains" in failed.error and "from epoch 1" in failed.error
        await state_is(again, continued.id, "succeeded")  # type: ignore[arg-type]
        run = await again.training.get(continued.id)  # type: ignore[arg-type]
        assert trainer.started_from == [1]
        assert run.epochs_done == 2 and [e["epoch"] for e in run.epochs] == [1, 2]
        assert run.error == "the studio stopped during training; continues from epoch 1"
    finally:
        await again.stop()


async def test_devices_take_trainer_folders_and_test_them(
    studio_and_trainer: tuple[Studio, FakeTrainer], api: httpx.AsyncClient, tmp_path: Path
) -> None:
    studio, _trainer = studio_and_trainer
    sd_scripts, loras = tmp_path / "sd-scripts", tmp_path / "comfy-loras"
    fields = {"kohya_dir": str(sd_scripts), "kohya_python": sys.executable, "loras_dir": str(loras)}

    tested = (await api.post("/devices/test", json={"name": "box", **fields})).json()
    assert tested["trainer"]["ok"], tested["trainer"]
    assert any("train_network.py, sdxl_train_network.py" in f for f in tested["trainer"]["findings"])
    assert any(f"Python {sys.version.split()[0]}" in f for f in tested["trainer"]["findings"])
    assert (await api.post("/devices/test", json={"name": "box"})).json()["trainer"] is None

    broken = {"kohya_dir": str(tmp_path / "nowhere"), "loras_dir": str(tmp_path / "missing")}
    found = (await api.post("/devices/test", json={"name": "box", **broken})).json()["trainer"]
    assert not found["ok"]
    problems = " | ".join(found["findings"])
    assert "has no train_network.py" in problems and "does not run" in problems and "cannot be written" in problems

    response = await api.post("/devices", json={"name": "box", "kohya_dir": "opt/sd-scripts"})
    assert response.status_code == 422 and "absolute path" in response.text

    added = await api.post("/devices", json={"name": "box", **fields})
    assert added.status_code == 201, added.text
    assert {k: added.json()[k] for k in fields} == fields
    async with studio.db.session() as session:
        row = await session.get(DeviceConnection, "box")
    assert row is not None and row.fields["kohya_dir"] == str(sd_scripts)  # kept as text in the JSON column
    assert DeviceSettings(name="box", **row.fields).trainer_python == Path(sys.executable)
    assert DeviceSettings(name="x", kohya_dir=sd_scripts).trainer_python == sd_scripts / "venv" / "bin" / "python"
