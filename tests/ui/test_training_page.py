"""The Training page through NiceGUI's simulated user, on SQLite and PostgreSQL, with a device whose trainer is the
fake kohya sd-scripts (tests/fakes/kohya, run with the studio's own Python) through the real queue and worker:
readiness of a ready and a not-ready character, a run started from the form waiting in the device's queue behind a
running one (live progress, cancel), the form's refusals, and a finished run's loss chart, log, sample grid,
lightbox, each epoch's score with the proposed epoch, and Register; and a run followed live until its epochs
are scored."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from nicegui.testing import User

from components.training_form import training_devices
from studio.config import DeviceSettings, Settings
from studio.models import ApprovalState, Character, DatasetImage, TrainingRun
from studio.root import Studio
from tests.bible_helpers import png
from tests.integration.test_training_export import add_images
from tests.ui.test_characters_page import KOOPA, PEACH, api, element
from tests.ui.test_create_page import WAIT, visible
from tests.ui.test_datasets_page import running_studio
from tests.ui.test_shell import eventually

FAKE_KOHYA = Path(__file__).resolve().parents[1] / "fakes" / "kohya"
NOOB = {"name": "noob", "checkpoint_model": "noobaiXL_v10.safetensors"}
PROMPTS = ["pch, 1girl, full body", "pch, 1girl, portrait, smiling"]


@pytest.fixture
def trainer_box(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The studio on the parametrised database with one training device (request before `user`: main.py reads
    the settings at start). Returns a checkpoint file the fake trainer accepts."""
    monkeypatch.setenv("STUDIO_DATABASE_URL", database_url)
    loras = tmp_path / "comfy-loras"  # the GPU box's ComfyUI loras folder, as the studio sees it
    loras.mkdir()
    device = {"name": "gpu1", "kohya_dir": str(FAKE_KOHYA), "kohya_python": sys.executable, "loras_dir": str(loras)}
    monkeypatch.setenv("STUDIO_DEVICES", json.dumps([device]))
    monkeypatch.setenv("STUDIO_TRAINING_MIN_IMAGES", "3")
    monkeypatch.setenv("STUDIO_JOB_CLAIM_POLL_SECONDS", "0.2")
    monkeypatch.setenv("FAKE_KOHYA_STEP_SECONDS", "0.02")
    checkpoint = tmp_path / "models" / NOOB["checkpoint_model"]
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(b"not read by the fake beyond existing")
    return checkpoint


async def cast_with_images(user: User, approved: dict[str, int]) -> tuple[int, dict[str, Character]]:
    """A project drawn with an SDXL style whose characters (by slug) have that many approved, tagged images."""
    project = await api(user, "POST", "/projects", {"name": "Mario Galaxy"})
    await api(user, "POST", "/generation-styles", NOOB)
    await api(user, "PATCH", f"/projects/{project['id']}", {"default_style": "noob"})
    studio = running_studio()
    made = {}
    for draft in (PEACH, KOOPA):
        row = await api(user, "POST", f"/projects/{project['id']}/characters", draft)
        character = await studio.characters.get(row["id"])
        await add_images(studio, character, approved.get(character.slug, 0))
        made[character.slug] = character
    return project["id"], made


async def add_uncaptioned(studio: Studio, character: Character) -> None:
    """An approved image without tags or caption text."""
    relative = await studio.media.write(f"images/{uuid.uuid4().hex}.png", png())
    async with studio.db.session() as session:
        session.add(
            DatasetImage(
                project_id=character.project_id,
                character_id=character.id,
                file_path=relative,
                content_hash=uuid.uuid4().hex,
                width=64,
                height=96,
                approval_state=ApprovalState.APPROVED,
            )
        )


async def start(studio: Studio, character: Character, checkpoint: Path, **overrides: Any) -> TrainingRun:
    values = {"base_checkpoint": str(checkpoint), "epochs": 2, "repeats": 2, "sample_prompts": PROMPTS} | overrides
    return await studio.training.start(character.id, "gpu1", "noobai-12gb", values, "local")  # type: ignore[arg-type]


async def settled(studio: Studio, run_id: int) -> TrainingRun:
    async def finished() -> bool:
        return (await studio.training.get(run_id)).state not in ("queued", "running")

    for _ in range(600):  # a bound, not a pace: it returns once the run ends
        if await finished():
            break
        await asyncio.sleep(0.05)
    return await studio.training.get(run_id)


def text_of(user: User, marker: str) -> str:
    return str(element(user, marker).text)


def shown_text(user: User, marker: str) -> str:
    """The text of the visible element with `marker`, "" while there is none (for `eventually`)."""
    found = visible(user, marker)
    return str(found[0].text) if found else ""


async def test_a_ready_and_a_not_ready_character_show_their_readiness(trainer_box: Path, user: User) -> None:
    project_id, cast = await cast_with_images(user, {"princess_peach": 3, "koopa_king": 1})
    await add_uncaptioned(running_studio(), cast["koopa_king"])
    await user.open(f"/training?project={project_id}")

    await user.should_see(marker="ready-princess_peach")
    assert text_of(user, "approved-princess_peach") == "3 approved of at least 3"
    assert text_of(user, "uncaptioned-princess_peach") == "every image has a caption"
    assert text_of(user, "family-princess_peach").startswith("SDXL · ")
    assert text_of(user, "lora-princess_peach") == "no LoRA in use"
    assert element(user, "train-princess_peach").enabled

    await user.should_see(marker="not-ready-koopa_king")
    assert text_of(user, "approved-koopa_king") == "2 approved of at least 3"
    assert text_of(user, "uncaptioned-koopa_king") == "1 without a caption"
    assert "Koopa King has 2 approved images; a training set needs at least 3" in text_of(user, "why-koopa_king")
    assert not element(user, "train-koopa_king").enabled
    await user.should_see(marker="no-runs")


async def test_the_page_asks_for_a_project_and_is_in_the_navigation(trainer_box: Path, user: User) -> None:
    await user.open("/training")
    await user.should_see("Choose a project first")
    await user.should_see(marker="nav-training")


async def test_a_run_started_from_the_form_waits_in_the_queue_behind_a_running_one(
    trainer_box: Path, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    project_id, cast = await cast_with_images(user, {"princess_peach": 3, "koopa_king": 3})
    studio = running_studio()
    monkeypatch.setenv("FAKE_KOHYA_STEP_SECONDS", "0.3")  # Peach trains for a while: the device is busy
    peach_run = await start(studio, cast["princess_peach"], trainer_box, epochs=5)
    await user.open(f"/training?project={project_id}")
    await user.should_see(marker=f"run-{peach_run.id}")
    await user.should_see(marker=f"run-progress-text-{peach_run.id}", retries=WAIT)
    await eventually(lambda: text_of(user, f"run-progress-text-{peach_run.id}").startswith("step "))

    user.find(marker="train-koopa_king").click()
    await user.should_see(marker="start-run-dialog")
    assert element(user, "run-device").value == "gpu1"
    assert element(user, "run-device").options == {"gpu1": "gpu1 · sd-scripts"}
    assert element(user, "run-preset").value == "noobai-12gb"  # the style's family at the common card size
    assert element(user, "run-epochs").value == 10 and element(user, "run-rank").value == 16
    assert text_of(user, "run-alpha") == "Alpha 8 (half the rank)"
    element(user, "run-epochs").value = 3
    element(user, "run-prompts").value = "kpa, solo\nkpa, smiling"
    user.find(marker="run-start").click()

    await user.should_not_see(marker="start-run-dialog", retries=WAIT)
    [koopa_run] = await studio.training.list(character_id=cast["koopa_king"].id)
    assert (koopa_run.state, koopa_run.epochs_total) == ("queued", 3)
    assert koopa_run.params["sample_prompts"] == ["kpa, solo", "kpa, smiling"]
    await user.should_see(marker=f"run-{koopa_run.id}")
    assert text_of(user, f"run-position-{koopa_run.id}") == "#1 in gpu1's queue"
    assert element(user, f"run-state-{koopa_run.id}").text == "queued"

    user.find(marker="train-princess_peach").click()  # Peach trains already: the service refuses a second run
    await user.should_see(marker="start-run-dialog")
    user.find(marker="run-start").click()
    await eventually(lambda: f"Princess Peach already has training run {peach_run.id}" in text_of(user, "run-problem"))
    user.find(marker="run-form-cancel").click()
    await user.should_not_see(marker="start-run-dialog")

    user.find(marker=f"run-cancel-{koopa_run.id}").click()
    await user.should_see(marker="confirm-dialog")
    user.find(marker="confirm").click()
    await eventually(lambda: bool(visible(user, f"run-retry-{koopa_run.id}")))
    assert element(user, f"run-state-{koopa_run.id}").text == "cancelled"
    assert (await studio.training.get(koopa_run.id)).state == "cancelled"  # type: ignore[arg-type]
    await studio.training.cancel(peach_run.id, "local")  # type: ignore[arg-type]


async def test_the_forms_refusals_show_beside_it_and_keep_what_was_typed(trainer_box: Path, user: User) -> None:
    project_id, cast = await cast_with_images(user, {"princess_peach": 3})
    await user.open(f"/training?project={project_id}")
    user.find(marker="train-princess_peach").click()
    await user.should_see(marker="start-run-dialog")
    element(user, "run-resolution").value = 1000
    element(user, "run-epochs").value = 4
    user.find(marker="run-start").click()
    await eventually(lambda: text_of(user, "run-problem") == "Resolution must be a multiple of 64, not 1000")
    assert element(user, "run-epochs").value == 4  # nothing typed is lost

    element(user, "run-resolution").value = None
    user.find(marker="run-start").click()
    await eventually(lambda: text_of(user, "run-problem") == "Resolution: enter a number")
    assert await running_studio().training.list(character_id=cast["princess_peach"].id) == []


async def test_a_trained_run_shows_its_loss_log_and_samples_and_registers_an_epoch(
    trainer_box: Path, user: User
) -> None:
    project_id, cast = await cast_with_images(user, {"princess_peach": 3})
    studio = running_studio()
    peach = cast["princess_peach"]
    await studio.characters.add_reference(peach.id, png(color=(230, 150, 170)), "peach.png", "local")  # type: ignore[arg-type]
    run = await settled(studio, (await start(studio, peach, trainer_box)).id)  # type: ignore[arg-type]
    assert run.state == "succeeded", run.error
    await studio.training.scoring_settled(run.id)  # type: ignore[arg-type]
    proposal = await studio.training.proposal(run.id)  # type: ignore[arg-type]
    assert proposal is not None
    await user.open(f"/training?project={project_id}")
    await user.should_see(marker=f"run-{run.id}")
    assert element(user, f"run-state-{run.id}").text == "succeeded"

    user.find(marker=f"run-details-{run.id}").click()
    await user.should_see(marker="register-epoch-2", retries=WAIT)
    chart = element(user, "loss-chart")
    points = chart.options["series"][0]["data"]
    assert points and all(0 < loss < 1 for _step, loss in points)
    assert chart.options["series"][0]["showSymbol"] is True  # a short run's few points are drawn as points
    assert "epoch 2/2" in text_of(user, "run-log")
    for epoch in (1, 2):
        for index in range(len(PROMPTS)):
            sample = element(user, f"sample-{epoch}-{index}")
            assert sample.props["src"] == f"/api/training-runs/{run.id}/epochs/{epoch}/samples/{index}"
    assert text_of(user, "proposal") == f"Proposed: {proposal.reason}"
    assert visible(user, f"proposed-{proposal.epoch}") and not visible(user, f"proposed-{3 - proposal.epoch}")
    for entry in await studio.training.samples(run.id):  # type: ignore[arg-type]
        assert text_of(user, f"epoch-score-{entry['epoch']}") == f"{entry['score'].score:.2f} · local measures"
        assert visible(user, f"register-epoch-{entry['epoch']}")  # any epoch stays registrable
    served = await user.http_client.get(f"/api/training-runs/{run.id}/epochs/2/samples/1")
    assert served.status_code == 200 and served.content.startswith(b"\x89PNG")

    user.find(marker="sample-2-1").click()
    await user.should_see(marker="image-lightbox")
    assert element(user, "lightbox-image").props["src"].endswith("/epochs/2/samples/1")
    user.find(marker="lightbox-close").click()

    user.find(marker="register-epoch-2").click()
    await eventually(lambda: text_of(user, "register-message").startswith("Epoch 2 is now the character's LoRA"))
    active = await studio.loras.active(peach.id)  # type: ignore[arg-type]
    assert active is not None and (active.epoch, active.run_id) == (2, run.id)
    copied = trainer_box.parents[1] / "comfy-loras" / active.file_name
    assert copied.read_bytes() == studio.media.path_of(run.epochs[1]["file"]).read_bytes()
    assert f"copied to {copied}" in text_of(user, "register-message")
    await eventually(lambda: text_of(user, "lora-princess_peach").startswith(f"LoRA in use: {active.file_name}"))


async def test_the_jobs_page_links_a_training_job_to_its_run_which_the_address_opens(
    trainer_box: Path, user: User
) -> None:
    project_id, cast = await cast_with_images(user, {"princess_peach": 3})
    studio = running_studio()
    run = await settled(studio, (await start(studio, cast["princess_peach"], trainer_box, epochs=1)).id)  # type: ignore[arg-type]
    await user.open("/jobs")
    link = element(user, f"job-link-{run.job_id}")
    assert (link.text, link.props["href"]) == ("open training run", f"/training?project={project_id}&run={run.id}")

    await user.open(f"/training?project={project_id}&run={run.id}")
    await user.should_see(marker="register-epoch-1", retries=WAIT)  # the run's detail is open
    other = await api(user, "POST", "/projects", {"name": "Another"})
    for address in (f"/training?project={other['id']}&run={run.id}", f"/training?project={project_id}&run=999"):
        await user.open(address)  # a run of another project, or none: the page without a detail
        await user.should_see(marker="runs")
        assert not visible(user, "run-detail")


async def test_a_failed_run_continues_from_its_last_saved_epoch(
    trainer_box: Path, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    project_id, cast = await cast_with_images(user, {"princess_peach": 3})
    studio = running_studio()
    monkeypatch.setenv("FAKE_KOHYA_DIE_AT_EPOCH", "2")
    run = await settled(studio, (await start(studio, cast["princess_peach"], trainer_box)).id)  # type: ignore[arg-type]
    assert (run.state, run.epochs_done) == ("failed", 1), run.error
    monkeypatch.delenv("FAKE_KOHYA_DIE_AT_EPOCH")
    await user.open(f"/training?project={project_id}")
    await user.should_see(marker=f"run-note-{run.id}")
    retry = element(user, f"run-retry-{run.id}")
    assert retry.text == "Continue from epoch 1"

    user.find(marker=f"run-retry-{run.id}").click()
    await eventually(lambda: not visible(user, f"run-retry-{run.id}"))  # queued again
    finished = await settled(studio, run.id)  # type: ignore[arg-type]
    assert (finished.state, finished.epochs_done) == ("succeeded", 2), finished.error
    await eventually(lambda: element(user, f"run-state-{run.id}").text == "succeeded")
    assert not visible(user, f"run-retry-{run.id}") and not visible(user, "page-load-failed")


async def test_an_open_detail_shows_each_epochs_score_as_it_lands(trainer_box: Path, user: User) -> None:
    project_id, cast = await cast_with_images(user, {"princess_peach": 3, "koopa_king": 3})
    studio = running_studio()
    koopa = cast["koopa_king"]  # no reference image: its epochs cannot be scored locally
    peach = cast["princess_peach"]
    await studio.characters.add_reference(peach.id, png(color=(230, 150, 170)), "peach.png", "local")  # type: ignore[arg-type]
    # The studio scores one epoch at a time: holding that slot keeps the run's epochs unscored until the run has
    # ended, so only the scores' own events can bring them onto the open detail.
    slot = studio.training._score_slot
    await slot.acquire()
    try:
        run = await settled(studio, (await start(studio, peach, trainer_box)).id)  # type: ignore[arg-type]
        assert run.state == "succeeded", run.error
        await user.open(f"/training?project={project_id}")
        user.find(marker=f"run-details-{run.id}").click()
        await eventually(lambda: shown_text(user, "epoch-score-2") == "scoring…")
        assert text_of(user, "epoch-score-1") == "scoring…"
        assert text_of(user, "proposal") == "No epoch proposed yet: the saved epochs' samples are being scored."
    finally:
        slot.release()

    for epoch in (1, 2):
        await eventually(lambda e=epoch: shown_text(user, f"epoch-score-{e}").endswith(" · local measures"))
    await studio.training.scoring_settled(run.id)  # type: ignore[arg-type]
    proposal = await studio.training.proposal(run.id)  # type: ignore[arg-type]
    assert proposal is not None
    await eventually(lambda: text_of(user, "proposal") == f"Proposed: {proposal.reason}")
    assert visible(user, f"proposed-{proposal.epoch}")
    user.find(marker="run-detail-close").click()
    await user.should_not_see(marker="run-detail")

    # A character without reference images: each epoch says why it is not scored, and nothing is proposed.
    unscored = await settled(studio, (await start(studio, koopa, trainer_box, epochs=1)).id)  # type: ignore[arg-type]
    await studio.training.scoring_settled(unscored.id)  # type: ignore[arg-type]
    await user.should_see(marker=f"run-details-{unscored.id}", retries=WAIT)
    user.find(marker=f"run-details-{unscored.id}").click()
    await eventually(
        lambda: shown_text(user, "epoch-score-1").startswith("not scored: Koopa King has no reference images")
    )
    assert text_of(user, "proposal").startswith("No epoch proposed: no epoch could be scored")
    assert not visible(user, "proposed-1") and visible(user, "register-epoch-1")


def test_devices_that_train_are_those_with_sd_scripts_or_a_comfyui(tmp_path: Path) -> None:
    devices = [
        DeviceSettings(name="box", kohya_dir=FAKE_KOHYA, comfyui_url="http://127.0.0.1:1"),  # sd-scripts wins
        DeviceSettings(name="comfy", comfyui_url="http://127.0.0.1:2"),
        DeviceSettings(name="llm-only", llm_url="http://127.0.0.1:3"),
    ]
    studio = Studio.build(Settings(data_dir=tmp_path, devices=devices))
    assert training_devices(studio) == {"box": "box · sd-scripts", "comfy": "comfy · ComfyUI's training nodes"}
