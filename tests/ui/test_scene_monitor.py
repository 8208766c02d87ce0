"""The generation monitor through NiceGUI's simulated user: a scene rendered with the animatic, live GPU attempts
on the fake ComfyUI scored by the fake LLM, generate/cancel with the service's refusals, regenerating one shot,
promoting another attempt, and scenes that are gone."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from nicegui import ui
from nicegui.testing import User

from services.bible.schemas import CharacterDraft
from services.datasets import Verdict
from services.jobs import FINISHED_STATES, JobFilter
from services.scenes import SCENE_JOB, SceneDraft, ShotDraft
from studio.models import ApprovalState, Job, Scene, Shot
from studio.root import Studio
from tests.bible_helpers import GALAXY
from tests.dataset_helpers import add_drawings
from tests.fakes.comfyui import FakeComfyUI
from tests.fakes.ollama import FakeOllama
from tests.ui.test_characters_page import element
from tests.ui.test_create_page import WAIT, state_of, visible
from tests.ui.test_datasets_page import running_studio
from tests.ui.test_shell import eventually


@pytest.fixture(autouse=True)
def quick_claims(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers look for new jobs often, so a scene starts rendering at once."""
    monkeypatch.setenv("STUDIO_JOB_CLAIM_POLL_SECONDS", "0.2")


@pytest.fixture
def gpu(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeComfyUI, FakeOllama]]:
    """A fake ComfyUI and a fake LLM on device gpu1 (requested before `user`: main.py reads settings at start)."""
    with FakeComfyUI(job_seconds=1.5, steps=4) as comfy, FakeOllama() as llm:
        comfy.previews = True  # a ComfyUI started with `--preview-method auto`
        device = {"name": "gpu1", "comfyui_url": comfy.url, "llm_url": llm.url}
        monkeypatch.setenv("STUDIO_DEVICES", json.dumps([device]))
        yield comfy, llm


def review(score: int) -> str:
    """The fake LLM's rating of one review frame."""
    categories = ("character_match", "style_match", "motion_execution", "technical_quality")
    return json.dumps({**dict.fromkeys(categories, score), "issues": [] if score > 5 else ["blurry"]})


async def scene_with(engine: str, count: int, seconds: float = 1.0) -> tuple[Scene, list[Shot]]:
    """A small scene (320x240, 8 fps) whose first shot starts from an approved picture; the rest continue."""
    studio = running_studio()
    draft = GALAXY.model_copy(
        update={"name": f"G {uuid.uuid4().hex[:6]}", "frame_width": 320, "frame_height": 240, "frame_rate": 8}
    )
    project = await studio.projects.create(draft, "local")
    rin = await studio.characters.create(project.id, CharacterDraft(name="Rin"), "local")  # type: ignore[arg-type]
    (picture,) = await add_drawings(studio, rin, 1)
    await studio.decisions.decide(picture.id, Verdict(ApprovalState.APPROVED), "local")  # type: ignore[arg-type]
    scene = await studio.scenes.create(project.id, SceneDraft(title="Harbour"), "local")  # type: ignore[arg-type]
    shots = []
    for n in range(count):
        shot = ShotDraft(
            shot_type="medium",
            duration_seconds=seconds,
            description=f"Rin on the pier, beat {n + 1}",
            motion_prompt="slow push in",
            source_image_id=picture.id if n == 0 else None,
            video_engine=engine,  # type: ignore[arg-type]
        )
        shots.append(await studio.scenes.add_shot(scene.id, shot, "local"))
    return scene, shots


async def settled(studio: Studio, job_id: int, seconds: float = 60) -> Job:
    for _ in range(int(seconds / 0.05)):
        job = await studio.jobs.get(job_id)
        if job.state in FINISHED_STATES:
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish in {seconds} s")


async def generated(scene: Scene) -> list[Shot]:
    studio = running_studio()
    job = await studio.scene_generation.start(scene.id, "local")
    finished = await settled(studio, job.id)  # type: ignore[arg-type]
    assert finished.state.value == "succeeded", finished.error
    return await studio.scenes.shots(scene.id)


def text(user: User, marker: str) -> str:
    """The visible text of the marked element and everything in it ("" when it is not shown)."""
    found = visible(user, marker)
    if not found:
        return ""
    parts = [getattr(e, "text", None) for e in [found[0], *found[0].descendants()]]
    return " ".join(str(p) for p in parts if p)


def props_of(user: User, marker: str) -> dict[str, Any]:
    found = visible(user, marker)
    return found[0].props if found else {}


def pause_redraws(user: User, paused: bool) -> None:
    for timer in user.find(kind=ui.timer).elements:
        timer.deactivate() if paused else timer.activate()


async def test_a_rendered_scene_shows_every_shot_with_its_attempt_score_video_and_frames(user: User) -> None:
    scene, _ = await scene_with("animatic", 2)
    shots = await generated(scene)

    await user.open(f"/scenes/{scene.id}/monitor")
    await user.should_see("Scene 1 · Harbour", retries=WAIT)
    await user.should_see("2 of 2 shots rendered", retries=WAIT)
    assert text(user, "scene-status") == "completed"
    scene = await running_studio().scenes.get(scene.id)
    assert state_of(user, scene.generation_job_id) == "succeeded"  # type: ignore[arg-type]
    assert element(user, "generate-scene").enabled and not visible(user, "cancel-scene")
    for shot in shots:
        [attempt] = shot.attempts
        assert text(user, f"shot-status-{shot.id}") == "completed"
        assert text(user, f"shot-facts-{shot.id}") == "medium · Animatic · 1 s"
        assert text(user, f"shot-selected-{shot.id}") == f"Using attempt 1 · score {attempt['score']:.2f}"
        assert text(user, f"attempt-verdict-{shot.id}-1") == "passed · in use"
        assert f"score {attempt['score']:.2f} (local)" in text(user, f"attempt-facts-{shot.id}-1")
        video = element(user, f"attempt-video-{shot.id}-1")
        assert video.source == f"/api/shots/{shot.id}/video?attempt=1"
        assert element(user, f"first-frame-{shot.id}").source.startswith(f"/api/shots/{shot.id}/frames/first?v=")
        assert element(user, f"last-frame-{shot.id}").source.startswith(f"/api/shots/{shot.id}/frames/last?v=")
        assert not visible(user, f"promote-{shot.id}-1")  # the attempt in use is not offered again
        # The player's address serves the attempt's video.
        response = await user.http_client.get(video.source)
        assert response.status_code == 200 and response.headers["content-type"] == "video/mp4"
        assert response.content == running_studio().media.path_of(attempt["video"]).read_bytes()


async def test_generate_runs_live_a_second_start_is_refused_and_cancel_stops_it(user: User) -> None:
    # Long shots, so the scene is still rendering when the page acts on it.
    scene, shots = await scene_with("animatic", 3, seconds=6.0)
    studio = running_studio()
    await user.open(f"/scenes/{scene.id}/monitor")
    await user.should_see("Not generated yet.", retries=WAIT)

    # Another tab starts the scene while this page has not caught up: the service refuses and the page says why.
    pause_redraws(user, True)
    job = await studio.scene_generation.start(scene.id, "local")
    user.find(marker="generate-scene").click()
    await user.should_see("This scene is already generating; cancel it first to start again", retries=WAIT)
    pause_redraws(user, False)

    await user.should_see(f"Generation job {job.id}", retries=WAIT)
    await eventually(lambda: text(user, "scene-status") == "generating", seconds=20)
    assert not element(user, "generate-scene").enabled
    await eventually(lambda: text(user, f"shot-status-{shots[0].id}") == "generating", seconds=20)
    await user.should_see("Rendering attempt 1 · Animatic", retries=WAIT)
    assert "Waiting for the shots before it" in text(user, f"shot-current-{shots[1].id}")
    assert not element(user, f"regenerate-{shots[1].id}").enabled

    user.find(marker="cancel-scene").click()
    await user.should_see("Generation cancelled; shots already rendered keep their videos", retries=WAIT)
    assert (await settled(studio, job.id)).state.value == "cancelled"  # type: ignore[arg-type]
    await eventually(lambda: text(user, "scene-status") == "draft", seconds=20)
    after = await studio.scenes.shots(scene.id)
    assert {s.status for s in after} <= {"pending", "completed"}  # a shot that finished before the cancel keeps it
    assert after[-1].status == "pending"
    await eventually(lambda: all(text(user, f"shot-status-{s.id}") == s.status for s in after), seconds=20)
    await eventually(lambda: element(user, "generate-scene").enabled, seconds=20)
    assert not visible(user, "cancel-scene")
    assert all(s.status != "generating" for s in await studio.scenes.shots(scene.id))


async def test_regenerating_one_shot_renders_only_it_and_an_earlier_attempt_can_be_used_again(user: User) -> None:
    scene, _ = await scene_with("animatic", 2)
    first, second = await generated(scene)
    studio = running_studio()
    await user.open(f"/scenes/{scene.id}/monitor")
    await eventually(lambda: text(user, f"shot-status-{second.id}") == "completed", seconds=20)

    user.find(marker=f"regenerate-{second.id}").click()
    await user.should_see("Shot 2 queued to render again", retries=WAIT)
    [job, _] = await studio.jobs.list(JobFilter(kind=SCENE_JOB))  # newest first
    assert job.payload["shot_ids"] == [str(second.id)]
    assert (await settled(studio, job.id)).state.value == "succeeded"  # type: ignore[arg-type]

    await eventually(lambda: bool(visible(user, f"attempt-{second.id}-2")), seconds=20)
    await eventually(lambda: text(user, f"shot-status-{second.id}") == "completed", seconds=20)
    assert text(user, f"attempts-{first.id}").startswith("1 attempt")
    again = await studio.scenes.shot(second.id)
    earlier, latest = again.attempts
    assert again.output_video_path == latest["video"] != earlier["video"]
    assert (await studio.scenes.shot(first.id)).attempts == first.attempts  # untouched
    assert "run 1" in text(user, f"attempt-{second.id}-1") and "run 2" in text(user, f"attempt-{second.id}-2")
    assert text(user, f"attempt-verdict-{second.id}-2") == "passed · in use"

    # The page offers an earlier attempt once the generation job has finished (until then it could overwrite it).
    await eventually(lambda: element(user, f"promote-{second.id}-1").enabled, seconds=20)
    user.find(marker=f"promote-{second.id}-1").click()
    await user.should_see("Shot 2 now uses attempt 1", retries=WAIT)
    assert (await studio.scenes.shot(second.id)).output_video_path == earlier["video"]
    await eventually(lambda: text(user, f"attempt-verdict-{second.id}-1") == "passed · in use", seconds=20)
    assert not visible(user, f"promote-{second.id}-1")


async def test_gpu_attempts_show_live_progress_and_preview_then_a_weaker_attempt_can_be_promoted(
    gpu: tuple[FakeComfyUI, FakeOllama], user: User
) -> None:
    comfy, llm = gpu
    scene, [shot] = await scene_with("framepack", 1)
    studio = running_studio()
    # The first attempt scores 3/10 on its three review frames (below the 0.6 gate), the second 8/10.
    llm.replies = [review(3)] * 3 + [review(8)] * 3
    await user.open(f"/scenes/{scene.id}/monitor")
    await user.should_see("Not generated yet.", retries=WAIT)

    user.find(marker="generate-scene").click()
    await user.should_see("Scene generation queued", retries=WAIT)
    await user.should_see("Attempt 1 · FramePack · job", retries=WAIT)
    child = next(a["job_id"] for a in (await studio.scenes.shot(shot.id)).attempts if a.get("job_id"))
    # The GPU job's progress and its latest preview frame appear on the shot's card.
    await eventually(lambda: (props_of(user, f"job-progress-{child}").get("value") or 0) > 0, seconds=20)
    await eventually(lambda: str(props_of(user, f"job-preview-{child}").get("src", "")).startswith("data:image"))

    await eventually(lambda: text(user, "scene-status") == "completed", seconds=60)
    await eventually(lambda: text(user, f"attempt-verdict-{shot.id}-2") == "passed · in use", seconds=20)
    weak, strong = (await studio.scenes.shot(shot.id)).attempts
    assert text(user, f"attempt-verdict-{shot.id}-1") == "below the gate"
    assert f"gate 0.60 · score {weak['score']:.2f} (vision)" in text(user, f"attempt-facts-{shot.id}-1")
    assert f"gate 0.45 · score {strong['score']:.2f} (vision)" in text(user, f"attempt-facts-{shot.id}-2")
    assert element(user, f"attempt-video-{shot.id}-1").source == f"/api/shots/{shot.id}/video?attempt=1"
    assert element(user, f"attempt-video-{shot.id}-2").source == f"/api/shots/{shot.id}/video?attempt=2"
    assert visible(user, f"attempt-why-{shot.id}-1")  # its reasons, one click away
    assert not visible(user, f"promote-{shot.id}-2")

    await eventually(lambda: element(user, f"promote-{shot.id}-1").enabled, seconds=20)
    user.find(marker=f"promote-{shot.id}-1").click()
    await user.should_see("Shot 1 now uses attempt 1", retries=WAIT)
    row = await studio.scenes.shot(shot.id)
    assert (row.selected_attempt, row.output_video_path, row.status) == (1, weak["video"], "completed")
    await eventually(lambda: text(user, f"attempt-verdict-{shot.id}-1") == "below the gate · in use")
    await eventually(lambda: bool(visible(user, f"promote-{shot.id}-2")))
    assert text(user, f"shot-selected-{shot.id}") == f"Using attempt 1 · score {weak['score']:.2f}"
    assert comfy.internal_errors == []


async def test_cancelling_a_shot_being_regenerated_stops_its_gpu_job(
    gpu: tuple[FakeComfyUI, FakeOllama], user: User
) -> None:
    comfy, llm = gpu
    llm.replies = [review(9)] * 3
    scene, [shot] = await scene_with("framepack", 1)
    await generated(scene)
    studio = running_studio()
    comfy.hold()
    await user.open(f"/scenes/{scene.id}/monitor")
    await eventually(lambda: text(user, f"shot-status-{shot.id}") == "completed", seconds=20)

    user.find(marker=f"regenerate-{shot.id}").click()
    await user.should_see("Shot 1 queued to render again", retries=WAIT)
    await eventually(lambda: bool(visible(user, f"cancel-shot-{shot.id}")), seconds=20)
    await user.should_see("Attempt 2 · run 2", retries=WAIT)  # queued on the held GPU
    user.find(marker=f"cancel-shot-{shot.id}").click()
    await user.should_see("Shot 1 cancelled", retries=WAIT)
    await eventually(lambda: not visible(user, f"cancel-shot-{shot.id}"), seconds=20)
    await eventually(lambda: element(user, f"regenerate-{shot.id}").enabled, seconds=20)
    await eventually(
        lambda: text(user, f"attempt-verdict-{shot.id}-2") == "failed: the scene generation stopped first", seconds=20
    )
    comfy.release()
    assert all(s.status != "generating" for s in await studio.scenes.shots(scene.id))


async def test_an_unknown_or_deleted_scene_says_so_and_links_back_to_the_scenes(user: User) -> None:
    await user.open(f"/scenes/{uuid.uuid4()}/monitor")
    await user.should_see("There is no scene", retries=WAIT)
    assert element(user, "back-to-scenes").props["href"] == "/scenes"
    await user.open("/scenes/not-a-scene/monitor")
    await user.should_see("There is no scene not-a-scene", retries=WAIT)

    scene, _ = await scene_with("animatic", 1)
    await user.open(f"/scenes/{scene.id}/monitor")
    await user.should_see("Scene 1 · Harbour", retries=WAIT)
    await running_studio().scenes.delete(scene.id, "local")  # from another tab: the open page follows
    await user.should_see("Scene 1 “Harbour” is deleted", retries=WAIT)
    assert element(user, "back-to-scenes").props["href"] == f"/scenes?project={scene.project_id}"
