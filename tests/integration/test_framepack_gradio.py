"""FramePack through its own Gradio app (demo_gradio.py), against a real Gradio app that fakes it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from services.jobs import JobDraft, JobProgressed
from services.scenes import FRAMEPACK_GRADIO_JOB
from studio.config import DeviceSettings, Settings
from studio.models import Job, JobState
from studio.root import Studio
from tests.bible_helpers import png
from tests.fakes.comfyui import FakeComfyUI
from tests.fakes.framepack_gradio import FakeFramePackGradio
from tests.integration.test_comfy_worker import _finished, _started, _until
from tests.integration.test_scene_generation import _scene, _settled
from tests.integration.test_video_job import _payload, _probe, _project, _source


@pytest.fixture
def app() -> Iterator[FakeFramePackGradio]:
    with FakeFramePackGradio(step_seconds=0.01) as fake:
        yield fake


@pytest.fixture
async def studio(tmp_path: Path, app: FakeFramePackGradio) -> AsyncIterator[Studio]:
    devices = [DeviceSettings(name="gpu1", framepack_url=app.url)]
    started = await _started(Settings(data_dir=tmp_path / "data", devices=devices, job_claim_poll_seconds=0.3))
    try:
        yield started
    finally:
        await started.stop()


async def _submit(studio: Studio, payload: dict[str, Any]) -> Job:
    draft = JobDraft(kind=FRAMEPACK_GRADIO_JOB, payload=payload, title="shot", project_id=payload["project_id"])
    [job] = await studio.jobs.submit([draft], "aiko")
    return job


async def test_a_shot_renders_on_the_app_with_progress_and_is_stored_like_a_comfyui_video(
    studio: Studio, app: FakeFramePackGradio
) -> None:
    project_id = await _project(studio)
    source = await _source(studio, project_id, png(768, 1024, (200, 80, 40)))
    payload = _payload("framepack", project_id, seconds=2.0, source=source)
    seen: list[JobProgressed] = []
    studio.events.subscribe(JobProgressed, seen.append)
    [job] = await _finished(studio, [await _submit(studio, payload)], within=60)
    assert job.state == JobState.SUCCEEDED, job.error
    result = job.result or {}
    expected = f"projects/{project_id}/scenes/{payload['scene_id']}/shots/{payload['shot_id']}/attempt-1-{job.id}.mp4"
    assert (result["video"], result["engine"], result["device"]) == (expected, "framepack", "gpu1")
    stream = await asyncio.to_thread(_probe, studio.media.path_of(result["video"]))
    assert stream["codec_name"] == "h264" and stream["r_frame_rate"] == "30/1"
    assert int(stream["nb_read_frames"]) == 2 * 36 + 1  # two FramePack sections for 2 s
    [call] = app.calls
    assert call["image_shape"] == (1024, 768, 3) and call["prompt"] == payload["prompt"]
    assert (call["seed"], call["total_second_length"], call["steps"]) == (1234, 2.0, 4)
    assert (call["gpu_memory_preservation"], call["use_teacache"], call["mp4_crf"]) == (6.0, True, 16)
    mine = [e for e in seen if e.job_id == job.id]
    assert any("Sampling 2/4 · section 1 of 2" in e.message for e in mine)
    assert any("section 2 of 2" in e.message for e in mine)
    fractions = [e.progress for e in mine]
    assert fractions == sorted(fractions) and 0.5 < fractions[-1] < 1


async def test_the_apps_error_is_the_jobs_error(studio: Studio, app: FakeFramePackGradio) -> None:
    project_id = await _project(studio)
    source = await _source(studio, project_id, png(768, 1024))
    app.fail_next("CUDA out of memory. Tried to allocate 2.00 GiB")
    payload = _payload("framepack", project_id, source=source)
    [job] = await _finished(studio, [await _submit(studio, payload)], within=60)
    assert job.state == JobState.FAILED and job.result is None
    assert job.error == f"FramePack at {app.url} failed: CUDA out of memory. Tried to allocate 2.00 GiB"
    assert not studio.media.path_of(f"projects/{project_id}/scenes/{payload['scene_id']}").exists()


async def test_cancelling_a_job_ends_the_apps_run(studio: Studio, app: FakeFramePackGradio) -> None:
    project_id = await _project(studio)
    source = await _source(studio, project_id, png(768, 1024))
    app.hold()
    job = await _submit(studio, _payload("framepack", project_id, source=source))

    async def sampling() -> bool:
        return (await studio.jobs.get(job.id)).progress_message.startswith("Sampling")  # type: ignore[arg-type]

    await _until(sampling, 30, "the app to start sampling")
    await studio.jobs.cancel(job.id, "aiko")  # type: ignore[arg-type]
    await _until(lambda: asyncio.sleep(0, app.ended == 1), 10, "the app's end_process")
    app.release()
    cancelled = await studio.jobs.get(job.id)  # type: ignore[arg-type]
    assert cancelled.state == JobState.CANCELLED and cancelled.result is None


async def test_an_unreachable_app_fails_the_job_naming_its_url(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9"
    devices = [DeviceSettings(name="gpu1", framepack_url=url)]
    studio = await _started(Settings(data_dir=tmp_path / "data", devices=devices, job_claim_poll_seconds=0.3))
    try:
        project_id = await _project(studio)
        source = await _source(studio, project_id, png(768, 1024))
        [job] = await _finished(studio, [await _submit(studio, _payload("framepack", project_id, source=source))])
        assert job.state == JobState.FAILED
        assert f"FramePack's Gradio app at {url} is not reachable" in (job.error or "")
    finally:
        await studio.stop()


async def test_an_app_that_is_not_framepack_is_refused_with_its_endpoints(tmp_path: Path) -> None:
    with FakeComfyUI() as other:  # any web app with no /process: here ComfyUI's server
        devices = [DeviceSettings(name="gpu1", framepack_f1_url=other.url)]
        studio = await _started(Settings(data_dir=tmp_path / "data", devices=devices, job_claim_poll_seconds=0.3))
        try:
            project_id = await _project(studio)
            source = await _source(studio, project_id, png(768, 1024))
            payload = _payload("framepack_f1", project_id, source=source)
            [job] = await _finished(studio, [await _submit(studio, payload)])
            assert job.state == JobState.FAILED
            assert other.url in (job.error or "") and "FramePack" in (job.error or ""), job.error
        finally:
            await studio.stop()


async def test_a_scene_renders_on_the_app_when_no_comfyui_device_exists(
    studio: Studio, app: FakeFramePackGradio
) -> None:
    assert "framepack" in await studio.scene_generation._engines_ready()
    scene, _ = await _scene(studio, "framepack", count=2)
    job = await studio.scene_generation.start(scene.id, "aiko")
    finished = await _settled(studio, job.id)  # type: ignore[arg-type]
    assert finished.state == JobState.SUCCEEDED, finished.error
    shots = await studio.scenes.shots(scene.id)
    assert all(s.status in ("completed", "accepted_best") for s in shots), [s.error_message for s in shots]
    children = [await studio.jobs.get(a["job_id"]) for s in shots for a in s.attempts]
    assert {(c.kind, c.device, c.ran_on) for c in children} == {(FRAMEPACK_GRADIO_JOB, "gpu1", "gpu1")}
    assert len(app.calls) == len(children)
    for shot in shots:
        assert studio.media.path_of(shot.output_video_path or "").is_file()
    uuid.UUID(str(scene.id))
