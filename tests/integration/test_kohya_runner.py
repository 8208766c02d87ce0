"""LoRA training with kohya sd-scripts, end to end on SQLite and PostgreSQL: a run queued on a device whose
`kohya_dir` is the fake sd-scripts (tests/fakes/kohya, run with the studio's own Python), followed through the
real queue and device worker: epochs and samples in the run, loss points, cancel, a trainer that dies, retry."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.errors import Invalid
from services.training.kohya import KohyaTrainer, checkpoint_path, kohya_command
from services.training.presets import preset
from services.training.runs import TRAIN_JOB, TrainingRunChanged, TrainingRunProgressed
from services.training.safetensors_meta import read_metadata
from services.training.trainers import LoraTrainers
from studio.config import DeviceSettings, Settings
from studio.models import JobState, TrainingRun
from studio.root import Studio
from tests.bible_helpers import PEACH
from tests.integration.test_comfy_worker import _until
from tests.integration.test_training_export import SDXL, add_images, cast

FAKE_KOHYA = Path(__file__).resolve().parents[1] / "fakes" / "kohya"
PROMPTS = ["pch, 1girl, solo, full body", "pch, 1girl, portrait, smiling"]


@pytest.fixture
async def studio(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Studio]:
    monkeypatch.setenv("FAKE_KOHYA_STEP_SECONDS", "0.02")
    device = DeviceSettings(name="gpu1", kohya_dir=FAKE_KOHYA, kohya_python=Path(sys.executable))
    # sd-scripts is there; its Python is a file that cannot run (a copied venv without its mode bits).
    broken = tmp_path / "venv" / "bin" / "python"
    broken.parent.mkdir(parents=True)
    broken.write_text("not a program")
    without_python = DeviceSettings(name="gpu2", kohya_dir=FAKE_KOHYA, kohya_python=broken)
    # A box whose checkpoints folder the studio sees: runs name the style's checkpoint by file name.
    with_checkpoints = DeviceSettings(
        name="gpu3", kohya_dir=FAKE_KOHYA, kohya_python=Path(sys.executable), checkpoints_dir=tmp_path / "models"
    )
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        devices=[device, without_python, with_checkpoints],
        job_claim_poll_seconds=0.2,
        training_min_images=3,
    )
    built = Studio.build(settings)
    built.migrate()
    await built.start()
    try:
        yield built
    finally:
        await built.stop()


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    path = tmp_path / "models" / "noobaiXL_v10.safetensors"
    path.parent.mkdir()
    path.write_bytes(b"not read by the fake beyond existing")
    return path


async def _start(studio: Studio, checkpoint: Path, *, epochs: int = 3, repeats: int = 2) -> TrainingRun:
    peach = await cast(studio, PEACH, SDXL)
    assert peach.id is not None
    await studio.tags.set_trigger(peach.id, "pch", "test")
    await add_images(studio, peach, 3)
    overrides = {"base_checkpoint": str(checkpoint), "epochs": epochs, "repeats": repeats, "sample_prompts": PROMPTS}
    return await studio.training.start(peach.id, "gpu1", "sdxl-12gb", overrides, "aiko")


async def _settled(studio: Studio, run_id: int, within: float = 30) -> TrainingRun:
    async def finished() -> bool:
        return (await studio.training.get(run_id)).state not in ("queued", "running")

    await _until(finished, within, f"training run {run_id} to finish")
    return await studio.training.get(run_id)


def _trainers_in(folder: Path) -> list[int]:
    """Processes working in `folder` (the trainer runs in the run's folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if Path(os.readlink(entry / "cwd")) == folder:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


async def test_a_run_trains_three_epochs_with_samples_and_a_loss_curve(
    studio: Studio, checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_KOHYA_STEP_SECONDS", "0.2")  # 1.2 s an epoch: epochs are seen while it trains
    saved_while_training: list[bool] = []

    async def saved(event: TrainingRunChanged) -> None:
        if event.change == "epoch_saved":
            saved_while_training.append(bool(_trainers_in(studio.training.run_dir(event.run_id))))

    studio.events.subscribe(TrainingRunChanged, saved)
    run = await _start(studio, checkpoint)
    assert run.id is not None
    run = await _settled(studio, run.id)
    assert saved_while_training[0] is True  # epoch 1 as it appeared, not at the end
    assert run.state == "succeeded", run.error
    assert (run.epochs_done, run.epochs_total) == (3, 3)
    assert (run.step, run.steps_total) == (18, 18)  # 3 images x 2 repeats x 3 epochs
    assert [e["epoch"] for e in run.epochs] == [1, 2, 3]
    assert all(e["loss"] is not None and 0 < e["loss"] < 1 for e in run.epochs)
    slug = (await studio.characters.get(run.character_id)).slug
    for entry in run.epochs:
        lora = studio.media.path_of(entry["file"])
        metadata = read_metadata(lora)
        assert metadata["ss_epoch"] == str(entry["epoch"]) and metadata["ss_output_name"] == slug
        assert metadata["ss_base_model_version"] == "sdxl_base_v1-0"  # sdxl_train_network.py trained it
        assert metadata["ss_network_dim"] == "16"  # the preset's rank
        assert len(entry["samples"]) == len(PROMPTS)
        assert all(f"_e{entry['epoch']:06d}_" in sample for sample in entry["samples"])
        assert all(studio.media.path_of(sample).stat().st_size > 0 for sample in entry["samples"])
    steps = [point[0] for point in run.loss]
    assert steps and steps == sorted(steps) and all(0 < point[1] < 1 for point in run.loss)
    job = await studio.jobs.get(run.job_id)  # type: ignore[arg-type]
    assert job.state == JobState.SUCCEEDED and job.result == {"run_id": run.id, "epochs": 3, "device": "gpu1"}
    assert job.progress_message.startswith("epoch 3 of 3 · step 18 of 18 · loss ")
    log = await asyncio.to_thread(Path(run.log_path).read_text, encoding="utf-8")
    assert "sdxl_train_network.py" in log and "--network_train_unet_only" in log and "epoch 3/3" in log
    assert "steps: 100%" in log and log.count("steps:") < 10  # the bar's redraws are not all kept
    assert not _trainers_in(studio.training.run_dir(run.id))


async def test_cancelling_a_run_stops_the_trainer(
    studio: Studio, checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_KOHYA_STEP_SECONDS", "0.2")
    run = await _start(studio, checkpoint, repeats=20)
    assert run.id is not None
    run_dir = studio.training.run_dir(run.id)

    async def training() -> bool:
        return (await studio.training.get(run.id)).step > 0 and bool(_trainers_in(run_dir))  # type: ignore[arg-type]

    await _until(training, 30, "the trainer's first steps")
    cancelled = await studio.training.cancel(run.id, "aiko")
    assert cancelled.state == "cancelled"
    await _until(lambda: asyncio.sleep(0, not _trainers_in(run_dir)), 5, "the trainer to stop")
    job = await studio.jobs.get(run.job_id)  # type: ignore[arg-type]
    assert job.state == JobState.CANCELLED


async def test_a_trainer_that_dies_keeps_its_epochs_and_retry_continues(
    studio: Studio, checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_KOHYA_DIE_AT_EPOCH", "2")
    run = await _start(studio, checkpoint)
    assert run.id is not None
    failed = await _settled(studio, run.id)
    assert failed.state == "failed"
    assert [e["epoch"] for e in failed.epochs] == [1] and failed.epochs_done == 1
    job = await studio.jobs.get(failed.job_id)  # type: ignore[arg-type]
    assert job.state == JobState.FAILED
    assert job.error is not None and job.error.startswith(
        "kohya sd-scripts exited with status 1 in epoch 2 of 3 (epoch 1 is saved; retry continues from epoch 1)"
    )
    assert job.error.endswith("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB")
    assert failed.error == job.error
    assert len(job.error.splitlines()) <= 21  # the message and the log's last 20 lines

    monkeypatch.delenv("FAKE_KOHYA_DIE_AT_EPOCH")
    first = studio.media.path_of(failed.epochs[0]["file"])
    await studio.training.retry(run.id, "aiko")
    done = await _settled(studio, run.id)
    assert done.state == "succeeded", done.error
    assert [e["epoch"] for e in done.epochs] == [1, 2, 3]
    assert done.epochs[0]["file"] == failed.epochs[0]["file"]  # epoch 1 is the first attempt's
    assert done.step == done.steps_total == 18
    log = await asyncio.to_thread(Path(done.log_path).read_text, encoding="utf-8")
    # Two starts in one log, each with its end; the second continues from epoch 1's file with the 2 epochs left.
    assert log.count(" UTC: ") == 2
    assert "=== sd-scripts ended with status 1 after" in log and "=== sd-scripts ended with status 0 after" in log
    second = log.split(" UTC: ")[2]
    assert f"--network_weights {first}" in second and "--max_train_epochs 2" in second
    assert "load network weights from" in second and "epoch 2/2" in second


async def test_a_studio_restart_mid_run_stops_the_trainer_and_continues_after_the_saved_epoch(
    studio: Studio, checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_KOHYA_STEP_SECONDS", "0.2")  # 1.2 s an epoch: time to stop it in epoch 2
    run = await _start(studio, checkpoint)
    assert run.id is not None
    run_dir = studio.training.run_dir(run.id)

    async def first_epoch_saved() -> bool:
        return (await studio.training.get(run.id)).epochs_done >= 1  # type: ignore[arg-type]

    await _until(first_epoch_saved, 30, "epoch 1 to be saved")
    await studio.stop()
    assert not _trainers_in(run_dir)  # the trainer stops with the studio
    again = Studio.build(studio.settings)
    await again.start()
    try:
        done = await _settled(again, run.id)
        assert done.state == "succeeded", done.error
        assert [e["epoch"] for e in done.epochs] == [1, 2, 3] and done.step == done.steps_total == 18
        log = await asyncio.to_thread(Path(done.log_path).read_text, encoding="utf-8")
        assert log.count(" UTC: ") == 2 and "--network_weights" in log.split(" UTC: ")[2]
    finally:
        await again.stop()


async def test_a_half_written_epoch_file_is_not_kept(
    studio: Studio, checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_KOHYA_DIE_WRITING_EPOCH", "2")
    run = await _start(studio, checkpoint)
    failed = await _settled(studio, run.id)  # type: ignore[arg-type]
    assert failed.state == "failed" and [e["epoch"] for e in failed.epochs] == [1]
    assert failed.error is not None and "exited with status 1 in epoch 2 of 3 (epoch 1 is saved" in failed.error
    assert "(studio) epoch 2 is not kept: princess_peach-000002.safetensors is not a readable" in failed.error
    assert "OSError: [Errno 28] No space left on device" in failed.error


async def test_a_checkpoint_named_by_file_name_only_fails_the_job_saying_what_to_set(
    studio: Studio, checkpoint: Path
) -> None:
    peach = await cast(studio, PEACH, SDXL)
    assert peach.id is not None
    await add_images(studio, peach, 3)
    run = await studio.training.start(peach.id, "gpu1", "sdxl-12gb", {"epochs": 1}, "aiko")
    failed = await _settled(studio, run.id)  # type: ignore[arg-type]
    assert failed.state == "failed" and failed.error is not None
    assert "name the checkpoint file's full path on this machine" in failed.error
    assert "checkpoints_dir" in failed.error
    assert "noobaiXL_v10.safetensors" in failed.error  # the style's checkpoint, by name


async def test_the_devices_checkpoints_folder_finds_the_styles_checkpoint_by_name(
    studio: Studio, checkpoint: Path
) -> None:
    peach = await cast(studio, PEACH, SDXL)
    assert peach.id is not None
    await add_images(studio, peach, 3)
    run = await studio.training.start(peach.id, "gpu3", "sdxl-12gb", {"epochs": 1, "sample_prompts": PROMPTS}, "aiko")
    assert run.params["base_checkpoint"] == str(checkpoint)  # the style names noobaiXL_v10.safetensors
    assert (await _settled(studio, run.id)).state == "succeeded"  # type: ignore[arg-type]
    config = (studio.training.run_dir(run.id) / "dataset" / "dataset.toml").read_text()  # type: ignore[arg-type]
    assert "resolution = 1024" in config and "batch_size = 1" in config  # the preset's, as kohya reads them

    await asyncio.to_thread(checkpoint.unlink)
    with pytest.raises(Invalid, match="not in gpu3's checkpoints folder"):
        await studio.training.start(peach.id, "gpu3", "sdxl-12gb", {"epochs": 1}, "aiko")


def test_the_command_follows_the_params() -> None:
    params = preset("sd15-12gb").model_copy(update={"base_checkpoint": "/models/v1-5.safetensors", "epochs": 10})
    command = kohya_command(
        python=Path("/opt/sd-scripts/venv/bin/python"),
        kohya_dir=Path("/opt/sd-scripts"),
        params=params,
        checkpoint=checkpoint_path(params),
        output_name="peach",
        epochs=7,
        network_weights=Path("/data/media/training/4/epochs/e000003/peach-000003.safetensors"),
    )
    assert command[:2] == ["/opt/sd-scripts/venv/bin/python", "/opt/sd-scripts/train_network.py"]
    options = dict(zip(command[2::2], command[3::2], strict=False))
    assert options["--pretrained_model_name_or_path"] == "/models/v1-5.safetensors"
    assert options["--max_train_epochs"] == "7" and options["--network_dim"] == "16"
    assert options["--network_alpha"] == "8" and options["--learning_rate"] == "0.0001"
    assert "--unet_lr" not in command and "--network_train_unet_only" not in command  # SD 1.5 trains both
    assert command[-2:] == ["--network_weights", "/data/media/training/4/epochs/e000003/peach-000003.safetensors"]
    with pytest.raises(Invalid, match="full path on this machine"):
        checkpoint_path(params.model_copy(update={"base_checkpoint": "v1-5.safetensors"}))


async def test_a_trainer_that_ignores_sigterm_is_killed_after_the_grace_period(
    studio: Studio, checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trainer stuck in a CUDA call ignores SIGTERM: after the grace period it gets SIGKILL."""
    monkeypatch.setenv("FAKE_KOHYA_HANG_AT_EPOCH", "1")
    handler = studio.job_handlers.remote[TRAIN_JOB]
    assert isinstance(handler, LoraTrainers)  # hands kohya_dir devices' jobs to sd-scripts
    trainer = handler.kohya
    trainer.stop_grace_seconds = 0.5  # 10 s in the studio
    steps: list[int] = []
    studio.events.subscribe(TrainingRunProgressed, lambda event: steps.append(event.step))
    run = await _start(studio, checkpoint)
    assert run.id is not None
    run_dir = studio.training.run_dir(run.id)

    async def stuck() -> bool:
        return bool(steps) and steps[-1] >= 3

    await _until(stuck, 30, "the trainer to reach the middle of epoch 1")
    assert _trainers_in(run_dir)
    await studio.training.cancel(run.id, "aiko")
    await _until(lambda: asyncio.sleep(0, not _trainers_in(run_dir)), 5, "the trainer to be killed")
    job = await studio.jobs.get(run.job_id)  # type: ignore[arg-type]
    assert job.state == JobState.CANCELLED
    log = await asyncio.to_thread(Path(run.log_path or studio.training.run_dir(run.id) / "kohya.log").read_text)
    assert "epoch 1/3" in log


async def test_a_trainer_python_that_cannot_run_fails_the_job_saying_what_to_set(
    studio: Studio, checkpoint: Path, tmp_path: Path
) -> None:
    peach = await cast(studio, PEACH, SDXL)
    assert peach.id is not None
    await add_images(studio, peach, 3)
    overrides = {"base_checkpoint": str(checkpoint), "epochs": 1}
    run = await studio.training.start(peach.id, "gpu2", "sdxl-12gb", overrides, "aiko")
    failed = await _settled(studio, run.id)  # type: ignore[arg-type]
    assert failed.state == "failed"
    assert failed.error == (
        f"kohya_python: {tmp_path}/venv/bin/python is not an executable Python: set the device's kohya_python "
        "to sd-scripts' Python (default: <kohya_dir>/venv/bin/python)"
    )


def test_the_handler_serves_devices_with_kohya_dir() -> None:
    assert KohyaTrainer.app == "kohya"
    trainer = KohyaTrainer.__new__(KohyaTrainer)
    assert trainer.app_url(DeviceSettings(name="gpu1", kohya_dir=FAKE_KOHYA)) == str(FAKE_KOHYA)
    assert trainer.app_url(DeviceSettings(name="gpu2")) is None
