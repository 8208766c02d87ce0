"""Scene generation end to end: the animatic on any machine, the fake ComfyUI with gates scored by the fake LLM,
the continuity chain, cancelling, and a restart in the middle of a scene."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from services.bible.schemas import CharacterDraft
from services.datasets import Verdict
from services.errors import Conflict, Invalid
from services.jobs import CPU_DEVICE, JobFilter, worker_identity
from services.media.clips import probe_clip
from services.scenes import SCENE_JOB, SceneDraft, ShotDraft
from studio.config import DeviceSettings, Settings
from studio.models import ApprovalState, Job, JobState, Scene, Shot
from studio.root import Studio
from tests.bible_helpers import GALAXY
from tests.dataset_helpers import add_drawings
from tests.fakes.comfyui import FakeComfyUI
from tests.fakes.ollama import FakeOllama
from tests.integration.test_comfy_worker import _until


async def _started(settings: Settings) -> Studio:
    studio = Studio.build(settings)
    studio.migrate()
    await studio.start()
    return studio


async def _scene(studio: Studio, engine: str, count: int = 3) -> tuple[Scene, list[Shot]]:
    """A scene whose first shot starts from an approved picture and the rest continue from it."""
    project = await studio.projects.create(
        GALAXY.model_copy(
            update={"name": f"G {uuid.uuid4().hex[:6]}", "frame_width": 320, "frame_height": 180, "frame_rate": 12}
        ),
        "aiko",
    )
    rin = await studio.characters.create(project.id, CharacterDraft(name="Rin"), "aiko")  # type: ignore[arg-type]
    (picture,) = await add_drawings(studio, rin, 1)
    await studio.decisions.decide(picture.id, Verdict(ApprovalState.APPROVED), "aiko")  # type: ignore[arg-type]
    scene = await studio.scenes.create(project.id, SceneDraft(title="Harbour"), "aiko")  # type: ignore[arg-type]
    shots = []
    for n in range(count):
        draft = ShotDraft(
            shot_type="medium",
            duration_seconds=1.0 + n * 0.5,
            description=f"Rin on the pier, beat {n + 1}",
            motion_prompt="slow push in",
            characters_present=[rin.id],  # type: ignore[list-item]
            source_image_id=picture.id if n == 0 else None,
            video_engine=engine,  # type: ignore[arg-type]
        )
        shots.append(await studio.scenes.add_shot(scene.id, draft, "aiko"))
    return scene, shots


async def _settled(studio: Studio, job_id: int, within: float = 90) -> Any:
    async def done() -> bool:
        return (await studio.jobs.get(job_id)).state not in (JobState.QUEUED, JobState.RUNNING)

    await _until(done, within, f"job {job_id}")
    return await studio.jobs.get(job_id)


def _on_gpu(tmp_path: Path, comfy: FakeComfyUI) -> Settings:
    """A studio whose only device is the fake ComfyUI."""
    return Settings(
        data_dir=tmp_path / "data",
        devices=[DeviceSettings(name="gpu1", comfyui_url=comfy.url)],
        job_claim_poll_seconds=0.3,
    )


async def _first_shot_on_gpu(studio: Studio, scene: Scene) -> None:
    """Wait until the scene's first shot has queued its GPU job."""

    async def queued() -> bool:
        return any(a.get("job_id") for a in (await studio.scenes.shots(scene.id))[0].attempts)

    await _until(queued, 30, "shot 1's GPU job")


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB").resize((64, 36)), dtype=np.float32)


async def test_the_animatic_renders_a_scene_in_order_continuing_each_shot_from_the_last(tmp_path: Path) -> None:
    studio = await _started(Settings(data_dir=tmp_path / "data", job_claim_poll_seconds=0.3))
    try:
        scene, _ = await _scene(studio, "animatic")
        job = await studio.scene_generation.start(scene.id, "aiko")
        with pytest.raises(Conflict, match="already generating"):
            await studio.scene_generation.start(scene.id, "aiko")
        finished = await _settled(studio, job.id)  # type: ignore[arg-type]
        assert finished.state == JobState.SUCCEEDED, finished.error
        shots = await studio.scenes.shots(scene.id)
        assert [s.status for s in shots] == ["completed"] * 3
        for shot in shots:
            info = await probe_clip(studio.media.path_of(shot.output_video_path or ""))
            assert (info.width, info.height, info.fps) == (320, 180, 12)
            assert info.seconds == pytest.approx(shot.duration_seconds, abs=1 / 12)
            assert [a["n"] for a in shot.attempts] == [1] and shot.selected_attempt == 1
        # The continuity chain: each shot's first frame is the previous shot's last frame.
        for before, after in itertools.pairwise(shots):
            gap = np.abs(
                _pixels(studio.media.path_of(before.last_frame_path or ""))
                - _pixels(studio.media.path_of(after.first_frame_path or ""))
            ).mean()
            assert gap < 8, f"shot {after.shot_number} does not start where {before.shot_number} ended ({gap:.1f})"
        row = await studio.scenes.get(scene.id)
        assert (row.generation_status, row.completed_shots) == ("completed", 3)
    finally:
        await studio.stop()


async def test_shots_that_cannot_render_are_refused_before_any_gpu_time(tmp_path: Path) -> None:
    studio = await _started(Settings(data_dir=tmp_path / "data"))
    try:
        scene, shots = await _scene(studio, "animatic", count=1)
        async with studio.db.session() as session:
            row = await session.get(Shot, shots[0].id)
            row.video_engine = "framepack"  # type: ignore[union-attr]
            session.add(row)
        with pytest.raises(Invalid, match="no device can run FramePack"):
            await studio.scene_generation.start(scene.id, "aiko")
        assert await studio.jobs.list(JobFilter()) == []
    finally:
        await studio.stop()


def _review(score: int) -> str:
    return json.dumps(
        {
            "character_match": score,
            "style_match": score,
            "motion_execution": score,
            "technical_quality": score,
            "issues": [] if score > 5 else ["blurry"],
        }
    )


async def test_on_comfyui_a_weak_attempt_is_retried_with_a_new_seed_and_more_steps(tmp_path: Path) -> None:
    with FakeComfyUI() as comfy, FakeOllama() as llm:
        devices = [DeviceSettings(name="gpu1", comfyui_url=comfy.url, llm_url=llm.url)]
        studio = await _started(Settings(data_dir=tmp_path / "data", devices=devices, job_claim_poll_seconds=0.3))
        try:
            scene, _ = await _scene(studio, "framepack", count=2)
            # Shot 1 passes at once (3 frames of 9/10); shot 2 scores 3/10 first, then 8/10.
            llm.replies = [_review(9)] * 3 + [_review(3)] * 3 + [_review(8)] * 3
            job = await studio.scene_generation.start(scene.id, "aiko")
            finished = await _settled(studio, job.id)  # type: ignore[arg-type]
            assert finished.state == JobState.SUCCEEDED, finished.error
            first, second = await studio.scenes.shots(scene.id)
            assert first.status == "completed" and [a["n"] for a in first.attempts] == [1]
            assert second.status == "completed" and [a["n"] for a in second.attempts] == [1, 2]
            weak, strong = second.attempts
            assert weak["passed"] is False and weak["score"] < 0.6 and weak["method"] == "vision"
            assert strong["passed"] is True and strong["threshold"] == 0.45
            assert strong["seed"] != weak["seed"] and strong["steps"] == weak["steps"] + 5
            assert second.selected_attempt == 2 and second.output_video_path == strong["video"]
            # Shot 2 started from shot 1's last frame: that is the image its GPU job uploaded.
            assert len(comfy.uploads) >= 2
        finally:
            await studio.stop()


async def test_a_restart_in_the_middle_of_a_scene_finishes_it_without_rendering_twice(tmp_path: Path) -> None:
    with FakeComfyUI() as comfy:
        settings = _on_gpu(tmp_path, comfy)
        studio = await _started(settings)
        scene, _ = await _scene(studio, "framepack", count=2)
        comfy.hold()
        job = await studio.scene_generation.start(scene.id, "aiko")

        await _first_shot_on_gpu(studio, scene)
        await studio.stop()  # the studio dies with shot 1 on the GPU
        comfy.release()
        studio = await _started(settings)
        try:
            finished = await _settled(studio, job.id)  # type: ignore[arg-type]
            assert finished.state == JobState.SUCCEEDED, finished.error
            shots = await studio.scenes.shots(scene.id)
            assert [s.status for s in shots] in (
                ["completed"] * 2,
                ["completed", "accepted_best"],
                ["accepted_best", "completed"],
                ["accepted_best"] * 2,
            )
            first = shots[0]
            assert len({a["job_id"] for a in first.attempts if a["n"] == 1}) == 1
            assert all(s.status != "generating" for s in shots)
        finally:
            await studio.stop()


async def test_cancelling_a_scene_stops_it_and_leaves_nothing_generating(tmp_path: Path) -> None:
    with FakeComfyUI() as comfy:
        settings = _on_gpu(tmp_path, comfy)
        studio = await _started(settings)
        try:
            scene, _ = await _scene(studio, "framepack", count=2)
            comfy.hold()
            job = await studio.scene_generation.start(scene.id, "aiko")

            async def running() -> bool:
                return (await studio.jobs.get(job.id)).state == JobState.RUNNING  # type: ignore[arg-type]

            await _until(running, 30, "the scene job to start")
            await asyncio.sleep(0.5)
            await studio.scene_generation.cancel(scene.id, "aiko")
            finished = await _settled(studio, job.id)  # type: ignore[arg-type]
            assert finished.state == JobState.CANCELLED
            comfy.release()

            async def stopped() -> bool:  # the job row says cancelled a moment before the walk has cleaned up
                return (await studio.scenes.get(scene.id)).generation_status != "generating"

            await _until(stopped, 10, "the scene to stop")
            row = await studio.scenes.get(scene.id)
            assert row.generation_status == "draft"
            shots = await studio.scenes.shots(scene.id)
            assert all(s.status == "pending" for s in shots)
            gpu_jobs = [await studio.jobs.get(a["job_id"]) for s in shots for a in s.attempts if a.get("job_id")]
            assert gpu_jobs and all(j.state == JobState.CANCELLED for j in gpu_jobs)  # the GPU stops too
        finally:
            await studio.stop()


async def test_an_animatic_scene_interrupted_by_a_restart_resumes_after_its_finished_shots(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", job_claim_poll_seconds=0.3)
    studio = await _started(settings)
    scene, _ = await _scene(studio, "animatic", count=3)
    job = await studio.scene_generation.start(scene.id, "aiko")

    async def first_done() -> bool:
        return (await studio.scenes.shots(scene.id))[0].status == "completed"

    await _until(first_done, 30, "shot 1")
    first_video = (await studio.scenes.shots(scene.id))[0].output_video_path
    await studio.stop()
    studio = await _started(settings)
    try:
        finished = await _settled(studio, job.id)  # type: ignore[arg-type]
        assert finished.state == JobState.SUCCEEDED and finished.requeues == 1, finished.error
        shots = await studio.scenes.shots(scene.id)
        assert [s.status for s in shots] == ["completed"] * 3
        assert shots[0].output_video_path == first_video and len(shots[0].attempts) == 1
    finally:
        await studio.stop()


async def test_a_shot_showing_a_deleted_character_is_refused_before_rendering(tmp_path: Path) -> None:
    studio = await _started(Settings(data_dir=tmp_path / "data"))
    try:
        scene, shots = await _scene(studio, "animatic", count=1)
        await studio.characters.delete(shots[0].characters_present[0], "aiko")
        with pytest.raises(Invalid, match="shot 1 shows deleted characters"):
            await studio.scene_generation.start(scene.id, "aiko")
    finally:
        await studio.stop()


async def test_cancelling_one_shot_lets_the_rest_of_the_scene_render(tmp_path: Path) -> None:
    with FakeComfyUI() as comfy:
        settings = _on_gpu(tmp_path, comfy)
        studio = await _started(settings)
        try:
            scene, shots = await _scene(studio, "framepack", count=3)
            comfy.hold()
            job = await studio.scene_generation.start(scene.id, "aiko")

            await _first_shot_on_gpu(studio, scene)
            await studio.scene_generation.cancel_shot(shots[1].id, "aiko")  # before its turn
            comfy.release()
            finished = await _settled(studio, job.id)  # type: ignore[arg-type]
            assert finished.state == JobState.SUCCEEDED and finished.result["skipped"] == 1, finished.error
            first, second, third = await studio.scenes.shots(scene.id)
            assert first.status in ("completed", "accepted_best") and third.status in ("completed", "accepted_best")
            assert second.status == "pending" and second.attempts == []
            assert third.attempts[0]["job_id"]  # shot 3 continued from shot 1's last frame
            with pytest.raises(Conflict, match="is not being generated"):
                await studio.scene_generation.cancel_shot(second.id, "aiko")
        finally:
            await studio.stop()


async def test_cancelling_a_shot_on_the_gpu_stops_its_attempts_without_retrying(tmp_path: Path) -> None:
    with FakeComfyUI() as comfy:
        settings = _on_gpu(tmp_path, comfy)
        studio = await _started(settings)
        try:
            scene, shots = await _scene(studio, "framepack", count=2)
            comfy.hold()
            job = await studio.scene_generation.start(scene.id, "aiko")

            await _first_shot_on_gpu(studio, scene)
            await studio.scene_generation.cancel_shot(shots[0].id, "aiko")
            comfy.release()
            finished = await _settled(studio, job.id)  # type: ignore[arg-type]
            assert finished.state == JobState.SUCCEEDED, finished.error
            first, second = await studio.scenes.shots(scene.id)
            assert first.status == "pending" and len(first.attempts) == 1  # no retry after a cancel
            assert first.attempts[0]["error"] and not first.attempts[0]["pending"]
            # Nothing to continue from: shot 2 has no picture of its own, so FramePack refuses it.
            assert second.status == "failed" and "source image" in (second.error_message or "")
        finally:
            await studio.stop()


def _built(settings: Settings) -> Studio:
    """A migrated studio whose workers do not run: its jobs stay as a test leaves them."""
    studio = Studio.build(settings)
    studio.migrate()
    return studio


async def test_a_scene_job_lost_twice_by_crashes_settles_the_scene_so_it_can_be_assembled(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", job_claim_poll_seconds=0.3)
    studio = await _started(settings)
    scene, _ = await _scene(studio, "animatic", count=2)
    first = await studio.scene_generation.start(scene.id, "aiko")
    assert (await _settled(studio, first.id)).state == JobState.SUCCEEDED  # type: ignore[arg-type]
    await studio.stop()

    # Generating again, the studio crashes twice while the scene job runs (nothing of it gets to clean up).
    crashed = _built(settings)
    job = await crashed.scene_generation.start(scene.id, "aiko")
    worker = worker_identity(settings.data_dir, CPU_DEVICE)
    await crashed.jobs.claim(worker, CPU_DEVICE, {SCENE_JOB})
    await crashed.jobs.requeue_lost(job.id, "the studio")  # type: ignore[arg-type]
    await crashed.jobs.claim(worker, CPU_DEVICE, {SCENE_JOB})
    await crashed.db.dispose()

    studio = await _started(settings)
    try:
        finished = await _settled(studio, job.id)  # type: ignore[arg-type]
        assert finished.state == JobState.FAILED and "lost this job twice" in (finished.error or "")

        async def settled() -> bool:  # the job row says failed a moment before its scene is settled
            return (await studio.scenes.get(scene.id)).generation_status != "generating"

        await _until(settled, 10, "the scene to be settled")
        row = await studio.scenes.get(scene.id)
        assert (row.generation_status, row.completed_shots) == ("completed", 2)  # the earlier videos stand
        assert [s.status for s in await studio.scenes.shots(scene.id)] == ["completed"] * 2
        assembly = await studio.scene_assembly.start(scene.id, "aiko")  # no longer "is generating" (409)
        await studio.jobs.cancel(assembly.id, "aiko")  # type: ignore[arg-type]
    finally:
        await studio.stop()


async def test_cancelling_a_scene_job_before_it_runs_settles_the_scene_and_a_retry_resumes_it(
    tmp_path: Path,
) -> None:
    studio = _built(Settings(data_dir=tmp_path / "data"))
    try:
        scene, _ = await _scene(studio, "animatic", count=1)
        job = await studio.scene_generation.start(scene.id, "aiko")
        await studio.scene_generation.cancel(scene.id, "aiko")
        assert (await studio.scenes.get(scene.id)).generation_status == "draft"
        assert [s.status for s in await studio.scenes.shots(scene.id)] == ["pending"]
        with pytest.raises(Invalid, match="no shot of this scene has a video"):  # not "is generating"
            await studio.scene_assembly.start(scene.id, "aiko")
        await studio.jobs.retry(job.id, "aiko")  # type: ignore[arg-type]
        assert (await studio.scenes.get(scene.id)).generation_status == "generating"
        with pytest.raises(Conflict, match="is generating"):
            await studio.scene_assembly.start(scene.id, "aiko")
    finally:
        await studio.db.dispose()


async def test_a_scene_left_generating_by_a_job_that_ended_is_settled_on_start(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    earlier = _built(settings)
    scene, _ = await _scene(earlier, "animatic", count=1)
    job = await earlier.scene_generation.start(scene.id, "aiko")
    # What an earlier version (or a crash right after the job row changed) left: a failed job, its scene
    # still generating.
    async with earlier.db.session() as session:
        row = await session.get(Job, job.id)
        row.state, row.error = JobState.FAILED, "the engine crashed"  # type: ignore[union-attr]
        session.add(row)
    await earlier.db.dispose()
    studio = await _started(settings)
    try:
        assert (await studio.scenes.get(scene.id)).generation_status == "failed"
        assert [s.status for s in await studio.scenes.shots(scene.id)] == ["pending"]
    finally:
        await studio.stop()
