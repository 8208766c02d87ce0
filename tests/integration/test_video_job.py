"""Shot videos through the ComfyUI device worker, against the protocol-faithful fake server."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from services.comfyui import ComfyClient, OutputFile, PromptOutcome
from services.errors import Invalid
from services.jobs import JobDraft
from services.media_store import MediaStore
from services.scenes.video_engines import ENGINE_LIMITS, frame_count, output_size
from services.scenes.video_job import VIDEO_JOB, VideoJobHandler
from studio.config import DeviceSettings, Settings
from studio.models import Job, JobState
from studio.root import Studio
from tests.bible_helpers import GALAXY, png
from tests.fakes import FakeComfyUI
from tests.integration.test_comfy_worker import _finished, _started, _until
from workflows import load_catalog, validate_graph

FRAME = (1280, 720)


def _settings(data_dir: Path, fake: FakeComfyUI) -> Settings:
    return Settings(
        data_dir=data_dir, devices=[DeviceSettings(name="gpu1", comfyui_url=fake.url)], job_claim_poll_seconds=0.5
    )


@pytest.fixture
def fake() -> AsyncIterator[FakeComfyUI]:
    with FakeComfyUI(job_seconds=0.05) as server:
        server.max_video_frames = 400  # the real frame counts, at a tiny size
        yield server


@pytest.fixture
async def studio(tmp_path: Path, fake: FakeComfyUI) -> AsyncIterator[Studio]:
    started = await _started(_settings(tmp_path / "data", fake))
    try:
        yield started
    finally:
        await started.stop()


async def _project(studio: Studio) -> int:
    project = await studio.projects.create(GALAXY.model_copy(update={"name": f"Galaxy {uuid.uuid4().hex[:6]}"}), "aiko")
    return project.id  # type: ignore[return-value]


async def _source(studio: Studio, project_id: int, data: bytes, name: str = "start.png") -> dict[str, str]:
    path = await studio.media.write(f"projects/{project_id}/sources/{uuid.uuid4().hex[:8]}/{name}", data)
    return {"path": path, "content_hash": hashlib.sha256(data).hexdigest()}


def _payload(
    engine: str, project_id: int, *, seconds: float = 2.0, source: dict[str, str] | None = None, **extra: Any
) -> dict[str, Any]:
    width, height = output_size(engine, (768, 1024) if source else None, FRAME)
    return {
        "engine": engine,
        "project_id": project_id,
        "scene_id": str(uuid.uuid4()),
        "shot_id": str(uuid.uuid4()),
        "attempt": 1,
        "prompt": "the turtle king raises his sceptre, slow push in",
        "negative": "",
        "seed": 1234,
        "steps": 4,
        "seconds": seconds,
        "width": width,
        "height": height,
        "source": source,
        **extra,
    }


async def _run(studio: Studio, *payloads: dict[str, Any]) -> list[Job]:
    drafts = [
        JobDraft(kind=VIDEO_JOB, payload=p, title=f"shot · {p['engine']}", project_id=p["project_id"]) for p in payloads
    ]
    return await _finished(studio, await studio.jobs.submit(drafts, "aiko"), within=30)


def _probe(path: Path) -> dict[str, Any]:
    ffprobe = shutil.which("ffprobe")
    assert ffprobe is not None, "ffprobe is needed"
    args = [ffprobe, "-v", "error", "-select_streams", "v:0", "-count_frames", "-of", "json", "-show_streams"]
    done = subprocess.run([*args, str(path)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)["streams"][0]


async def _object_info(fake: FakeComfyUI) -> dict[str, Any]:
    client = ComfyClient(fake.url)
    try:
        return await client.object_info()
    finally:
        await client.aclose()


def _executed_graphs(fake: FakeComfyUI) -> list[dict[str, Any]]:
    return [entry["prompt"][2] for entry in fake.history.values()]


def _load_images(graph: dict[str, Any]) -> list[str]:
    return [node["inputs"]["image"] for node in graph.values() if node["class_type"] == "LoadImage"]


# --- every ComfyUI engine, end to end ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("engine", "with_source"),
    [("framepack", True), ("framepack_f1", True), ("ltx", True), ("ltx", False), ("wan", False)],
)
async def test_each_engine_renders_a_stored_video_ffprobe_reads(
    studio: Studio, fake: FakeComfyUI, engine: str, with_source: bool
) -> None:
    project_id = await _project(studio)
    image = png(768, 1024, (200, 80, 40))
    source = await _source(studio, project_id, image) if with_source else None
    payload = _payload(engine, project_id, seconds=2.0, source=source)
    [job] = await _run(studio, payload)
    assert job.state == JobState.SUCCEEDED, job.error
    result = job.result or {}
    expected = f"projects/{project_id}/scenes/{payload['scene_id']}/shots/{payload['shot_id']}/attempt-1-{job.id}.mp4"
    assert result["video"] == expected
    assert (result["engine"], result["device"]) == (engine, "gpu1")
    assert result["gpu_seconds"] is not None and result["prompt_id"] == job.external_handle
    stream = await asyncio.to_thread(_probe, studio.media.path_of(result["video"]))
    fps = ENGINE_LIMITS[engine].fps
    assert stream["codec_name"] == "h264" and stream["r_frame_rate"] == f"{fps:g}/1"
    # The fake keeps the graph's aspect ratio at a 64 px long edge.
    assert abs(stream["width"] / stream["height"] - payload["width"] / payload["height"]) < 0.05
    if engine in ("ltx", "wan"):
        assert int(stream["nb_read_frames"]) == frame_count(engine, 2.0)
    # What ran is what the studio's own validation accepts against this server's nodes and files.
    [graph] = _executed_graphs(fake)
    served = await _object_info(fake)
    assert {node["class_type"] for node in graph.values()} <= set(served)
    assert validate_graph(graph, load_catalog(), models=fake.models, input_files=list(fake.uploads)) == []
    if with_source:
        name = f"anime-studio/shot_{source['content_hash'][:32]}.png"  # type: ignore[index]
        assert _load_images(graph) == [name]
        assert list(fake.uploads) == [name] and fake.uploads[name] == image
        assert len(fake.requests_to("/upload/image")) == 1
    else:
        assert _load_images(graph) == [] and fake.requests_to("/upload/image") == []


# --- source images -----------------------------------------------------------------------------------------------


async def test_a_source_image_is_named_by_its_content_so_a_new_image_never_reuses_a_stale_one(
    studio: Studio, fake: FakeComfyUI
) -> None:
    project_id = await _project(studio)
    first, second = png(768, 1024, (10, 20, 30)), png(768, 1024, (200, 100, 0))
    # The same file name for two different images: the earlier system animated the first one twice.
    one = await _source(studio, project_id, first, "start.png")
    other = await _source(studio, project_id, second, "start.png")
    again = await _source(studio, project_id, first, "start.png")
    jobs = await _run(studio, *(_payload("framepack", project_id, source=s) for s in (one, other, again)))
    assert [j.state for j in jobs] == [JobState.SUCCEEDED] * 3, [j.error for j in jobs]
    names = [_load_images(graph) for graph in _executed_graphs(fake)]
    first_name = f"anime-studio/shot_{one['content_hash'][:32]}.png"
    second_name = f"anime-studio/shot_{other['content_hash'][:32]}.png"
    assert sorted(n for [n] in names) == sorted([first_name, second_name, first_name])
    assert fake.uploads == {first_name: first, second_name: second}
    assert (fake.input_dir / second_name).read_bytes() == second


async def test_a_source_image_that_changed_after_queueing_is_refused(studio: Studio, fake: FakeComfyUI) -> None:
    project_id = await _project(studio)
    source = await _source(studio, project_id, png(768, 1024))
    await studio.media.write(source["path"], png(768, 1024, (255, 0, 0)))
    [job] = await _run(studio, _payload("framepack", project_id, source=source))
    assert job.state == JobState.FAILED and job.error is not None
    assert "changed after the job was queued; queue the shot again" in job.error
    assert fake.requests_to("/prompt") == [] and fake.uploads == {}


async def test_a_missing_source_file_is_refused_by_name(studio: Studio, fake: FakeComfyUI) -> None:
    project_id = await _project(studio)
    source = {"path": f"projects/{project_id}/sources/gone.png", "content_hash": "0" * 64}
    [job] = await _run(studio, _payload("ltx", project_id, source=source))
    assert job.state == JobState.FAILED and job.error is not None
    assert f"the shot's source image projects/{project_id}/sources/gone.png is not in the data folder" in job.error
    assert fake.requests_to("/prompt") == []


# --- refusals: nothing reaches the GPU -------------------------------------------------------------------------------


async def test_a_wan_job_with_a_source_image_is_refused(studio: Studio, fake: FakeComfyUI) -> None:
    project_id = await _project(studio)
    source = await _source(studio, project_id, png(768, 1024))
    payload = {**_payload("wan", project_id), "source": source}
    [job] = await _run(studio, payload)
    assert job.state == JobState.FAILED and job.error is not None
    assert "Wan 2.1 renders from text only and would ignore the source image" in job.error
    assert fake.requests_to("/prompt") == [] and fake.uploads == {}


async def test_a_framepack_job_without_a_source_image_is_refused(studio: Studio, fake: FakeComfyUI) -> None:
    project_id = await _project(studio)
    payload = {**_payload("framepack", project_id), "width": 544, "height": 704}
    [job] = await _run(studio, payload)
    assert job.state == JobState.FAILED and job.error is not None
    assert "FramePack animates an image: give the shot a source image or choose Wan 2.1" in job.error
    assert fake.requests_to("/prompt") == []


async def test_lengths_and_sizes_are_checked_again_when_the_job_runs(studio: Studio, fake: FakeComfyUI) -> None:
    project_id = await _project(studio)
    too_long, odd_size, animatic = await _run(
        studio,
        _payload("wan", project_id, seconds=8),
        {**_payload("ltx", project_id), "width": 768, "height": 512},
        {**_payload("animatic", project_id), "width": 1280, "height": 720},
    )
    assert too_long.state == JobState.FAILED and "Wan 2.1 renders 1\N{EN DASH}5 s; this shot is 8 s" in (
        too_long.error or ""
    )
    assert odd_size.state == JobState.FAILED
    assert "LTX-Video renders 320x512, 512x320; 768x512 is not one of them" in (odd_size.error or "")
    assert animatic.state == JobState.FAILED and "renders on the CPU, not on ComfyUI" in (animatic.error or "")
    assert fake.requests_to("/prompt") == []


# --- outcomes -------------------------------------------------------------------------------------------------------


async def test_a_failed_execution_stores_no_video(studio: Studio, fake: FakeComfyUI) -> None:
    project_id = await _project(studio)
    fake.fail_next("CUDA out of memory", node_type="KSampler")
    payload = _payload("wan", project_id)
    [job] = await _run(studio, payload)
    assert job.state == JobState.FAILED and job.error is not None and "CUDA out of memory" in job.error
    assert job.result is None
    shot_folder = studio.media.path_of(f"projects/{project_id}/scenes/{payload['scene_id']}")
    assert not shot_folder.exists()


async def test_switching_engines_frees_the_gpu_and_staying_does_not(studio: Studio, fake: FakeComfyUI) -> None:
    project_id = await _project(studio)
    source = await _source(studio, project_id, png(768, 1024))
    for engine, frees in (("framepack", 0), ("framepack", 0), ("wan", 1), ("wan", 1), ("framepack", 2)):
        payload = _payload(engine, project_id, source=source if engine == "framepack" else None)
        [job] = await _run(studio, payload)
        assert job.state == JobState.SUCCEEDED, job.error
        assert len(fake.free_calls) == frees, engine
    assert all(call.get("unload_models") for call in fake.free_calls)


async def test_an_outcome_without_a_video_is_refused_with_what_it_wrote(tmp_path: Path, fake: FakeComfyUI) -> None:
    handler = VideoJobHandler(media=MediaStore(tmp_path))
    job = Job(id=7, kind=VIDEO_JOB, payload=_payload("wan", 1))
    still = OutputFile(node_id="9", key="images", filename="frame_00001_.png", subfolder="", type="output")
    outcome = PromptOutcome("p-1", "success", (still,), None, 0, 1000)
    client = ComfyClient(fake.url)
    try:
        with pytest.raises(Invalid) as caught:
            await handler.collect(job, outcome, client, "gpu1")
    finally:
        await client.aclose()
    assert caught.value.field == "outputs"
    assert "without saving a video (it wrote images: frame_00001_.png)" in caught.value.message
    assert await asyncio.to_thread(lambda: list(tmp_path.rglob("*.mp4"))) == []


async def test_a_video_under_any_output_key_is_collected(tmp_path: Path, fake: FakeComfyUI) -> None:
    """Core SaveVideo lists its file under "images", VHS under "gifs": collect finds either."""
    graph = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 48, "batch_size": 9, "color": 0}},
        "2": {"class_type": "CreateVideo", "inputs": {"images": ["1", 0], "fps": 12.0}},
        "3": {
            "class_type": "SaveVideo",
            "inputs": {"video": ["2", 0], "filename_prefix": "video/probe", "format": "auto", "codec": "auto"},
        },
    }
    client = ComfyClient(fake.url)
    try:
        prompt_id = await client.submit(graph)
        outcome: PromptOutcome | None = None

        async def finished() -> bool:
            nonlocal outcome
            outcome = await client.history(prompt_id)
            return outcome is not None

        await _until(finished, what="the SaveVideo prompt")
        assert outcome is not None and outcome.status == "success"
        assert [f.key for f in outcome.outputs] == ["images"]
        media = MediaStore(tmp_path)
        job = Job(id=8, kind=VIDEO_JOB, payload=_payload("wan", 3))
        result = await VideoJobHandler(media=media).collect(job, outcome, client, "gpu1")
    finally:
        await client.aclose()
    stored = media.path_of(result["video"])
    assert stored.suffix == ".mp4" and stored.read_bytes()
    stream = await asyncio.to_thread(_probe, stored)
    assert (stream["width"], stream["height"]) == (64, 48)
