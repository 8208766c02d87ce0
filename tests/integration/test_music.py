"""Music end to end: ACE-Step (both protocols, a fake server on loopback) through the real job queue and the
device's ACE-Step worker, temp beds checked by ffprobe, uploads checked against ffmpeg-made files, scenes'
music and its fallbacks, and the REST API (Range requests included)."""

from __future__ import annotations

import asyncio
import io
import json
import re
import subprocess
import uuid
import wave
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from services.errors import Conflict, Invalid, NotFound
from services.jobs import JobProgressed
from services.music import (
    MUSIC_JOB,
    AceStepBadReply,
    AceStepClient,
    AceStepUnreachable,
    MusicChanged,
    MusicRequest,
    NotAudio,
    caption_for,
    probe_audio,
    render_temp_bed,
)
from services.scenes import SceneDraft
from studio.config import DeviceSettings, Settings
from studio.models import JobState, MusicTrack, Scene
from studio.root import Studio
from tests.bible_helpers import GALAXY
from tests.dataset_helpers import ffconcat_list, hls_playlist
from tests.fakes.ace_step import FakeAceStep, chord_wav
from tests.integration.test_api import guarded_api
from tests.integration.test_comfy_worker import _finished, _started, _until

LOOPBACK = ("127.0.0.1", 40000)


# --- helpers ------------------------------------------------------------------------------------------------


@pytest.fixture
def ace() -> Iterator[FakeAceStep]:
    with FakeAceStep() as fake:
        yield fake


def _settings(tmp_path: Path, url: str | None, api: str = "official", **extra: Any) -> Settings:
    devices = [DeviceSettings(name="rx9070", ace_step_url=url, ace_step_api=api)] if url else []  # type: ignore[arg-type]
    return Settings(data_dir=tmp_path / "data", devices=devices, job_claim_poll_seconds=0.3, **extra)


@pytest.fixture(params=["official", "wrapper"])
async def on_ace(request: pytest.FixtureRequest, tmp_path: Path, ace: FakeAceStep) -> AsyncIterator[Studio]:
    """A studio whose only device hosts the fake ACE-Step, speaking each protocol in turn."""
    studio = await _started(_settings(tmp_path, ace.url, request.param))
    try:
        yield studio
    finally:
        await studio.stop()


async def _project(studio: Studio) -> int:
    project = await studio.projects.create(GALAXY.model_copy(update={"name": f"G {uuid.uuid4().hex[:6]}"}), "aiko")
    return project.id  # type: ignore[return-value]


async def _scene(studio: Studio, project_id: int, **fields: Any) -> Scene:
    draft = SceneDraft(**{"title": "Harbour", "mood": "Tense, with a hint of romance", **fields})
    return await studio.scenes.create(project_id, draft, "aiko")


async def _chunks(data: bytes, size: int = 256 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _ffmpeg(tmp_path: Path, name: str, *args: str) -> bytes:
    """A real media file made by ffmpeg from lavfi sources."""
    out = tmp_path / name
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args, str(out)], check=True, timeout=60)
    return out.read_bytes()


def _sine(tmp_path: Path, name: str, seconds: float = 2.0, *codec: str) -> bytes:
    return _ffmpeg(tmp_path, name, "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", *codec)


def _stream(path: Path) -> dict[str, Any]:
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format", str(path)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    described = json.loads(done.stdout)
    [audio] = [s for s in described["streams"] if s["codec_type"] == "audio"]
    return {**audio, "format": described["format"]}


async def _track_settled(studio: Studio, track_id: int, within: float = 30) -> MusicTrack:
    async def settled() -> bool:
        return (await studio.music.get(track_id)).status != "generating"

    await _until(settled, within, f"music track {track_id}")
    return await studio.music.get(track_id)


async def _set(studio: Studio, scene: Scene, **values: Any) -> None:
    """Put a scene row in a state the services never produce (an older row, another writer)."""
    async with studio.db.session() as session:
        row = await session.get(Scene, scene.id)
        for key, value in values.items():
            setattr(row, key, value)
        session.add(row)


async def _set_track(studio: Studio, track_id: int, **values: Any) -> None:
    async with studio.db.session() as session:
        row = await session.get(MusicTrack, track_id)
        for key, value in values.items():
            setattr(row, key, value)
        session.add(row)


# --- generating with ACE-Step -------------------------------------------------------------------------------


async def test_a_scene_gets_music_made_from_its_mood_and_length_and_plays_it(on_ace: Studio, ace: FakeAceStep) -> None:
    studio = on_ace
    api = studio.settings.devices[0].ace_step_api
    ace.polls_before_done = 2
    project_id = await _project(studio)
    scene = await _scene(studio, project_id, target_duration_seconds=6)
    seen: list[Any] = []
    studio.events.subscribe(JobProgressed, seen.append)
    studio.events.subscribe(MusicChanged, seen.append)

    track, job = await studio.music.generate(project_id, MusicRequest(scene_id=scene.id), "aiko")
    assert (track.status, track.source, track.mood, track.title) == (
        "generating",
        "generated",
        "tense",
        "Harbour (tense)",
    )
    assert track.caption == caption_for("tense") and track.job_id == job.id
    assert (job.kind, job.project_id) == (MUSIC_JOB, project_id)

    [finished] = await _finished(studio, [job], within=30)
    assert finished.state == JobState.SUCCEEDED, finished.error
    assert finished.ran_on == "rx9070"
    ready = await studio.music.get(track.id)  # type: ignore[arg-type]
    assert (ready.status, ready.error) == ("ready", None)
    assert ready.path == f"projects/{project_id}/music/{track.id}-{job.id}.wav"
    stream = await asyncio.to_thread(_stream, studio.media.path_of(ready.path))
    assert (stream["codec_name"], stream["sample_rate"], stream["channels"]) == ("pcm_s16le", "48000", 2)
    assert float(stream["format"]["duration"]) == pytest.approx(6.0, abs=0.01)
    assert ready.duration_seconds == pytest.approx(6.0, abs=0.01)

    # What ACE-Step was asked for: the scene's mood (not "ambient") and its length, instrumental, as WAV.
    sent = ace.last_submit()
    if api == "official":
        assert (sent["prompt"], sent["audio_duration"], sent["lyrics"]) == (caption_for("tense"), 6.0, "[inst]")
        assert (sent["audio_format"], sent["batch_size"], sent["use_random_seed"]) == ("wav", 1, True)
        assert {"inference_steps", "guidance_scale", "seed"} <= set(sent)
        assert ace.requests_to("/v1/audio"), "the audio is fetched through /v1/audio"
    else:
        assert (sent["prompt"], sent["duration"], sent["lyrics"], sent["format"]) == (
            caption_for("tense"),
            6.0,
            "",
            "wav",
        )
        assert (sent["instrumental"], sent["infer_steps"], sent["guidance_scale"]) == (True, 60, 15.0)
        assert "seed" not in sent
    assert len(ace.queries) == 3  # two "running" answers, then done

    # It became the scene's music, and scene assembly will play it.
    scene = await studio.scenes.get(scene.id)
    assert scene.music_track_id == track.id
    music = await studio.music.music_for_scene(scene)
    assert (music.path, music.temp_bed, music.note) == (studio.media.path_of(ready.path), False, None)
    assert music.label == "“Harbour (tense)” (generated)"

    progress = [e for e in seen if isinstance(e, JobProgressed) and e.job_id == job.id]
    assert any("queued on ACE-Step" in e.message for e in progress)
    assert any(e.message.startswith(("diffusion", "running")) for e in progress)
    changes = [(e.change, e.scene_id) for e in seen if isinstance(e, MusicChanged) and e.track_id == track.id]
    assert changes == [("generating", None), ("generated", None), ("attached", str(scene.id))]


async def test_a_chosen_mood_caption_length_and_seed_are_sent_as_given(on_ace: Studio, ace: FakeAceStep) -> None:
    studio = on_ace
    project_id = await _project(studio)
    request = MusicRequest(mood="peaceful", caption="solo koto by the sea", duration_seconds=3, seed=77, title="Tide")
    track, job = await studio.music.generate(project_id, request, "aiko")
    [finished] = await _finished(studio, [job], within=30)
    assert finished.state == JobState.SUCCEEDED, finished.error
    sent = ace.last_submit()
    assert sent["prompt"] == "solo koto by the sea" and sent["seed"] == 77
    if studio.settings.devices[0].ace_step_api == "official":
        assert (sent["use_random_seed"], sent["audio_duration"]) == (False, 3.0)
    ready = await studio.music.get(track.id)  # type: ignore[arg-type]
    assert (ready.title, ready.mood, ready.status) == ("Tide", "peaceful", "ready")


async def test_a_failed_task_fails_the_track_with_the_servers_error_and_retry_makes_it(
    on_ace: Studio, ace: FakeAceStep
) -> None:
    studio = on_ace
    ace.fail_task = "CUDA out of memory. Tried to allocate 2.00 GiB"
    project_id = await _project(studio)
    scene = await _scene(studio, project_id, target_duration_seconds=2)
    track, job = await studio.music.generate(project_id, MusicRequest(scene_id=scene.id), "aiko")
    [finished] = await _finished(studio, [job], within=30)
    assert finished.state == JobState.FAILED
    assert finished.error == f"ACE-Step at {ace.url} failed the task: CUDA out of memory. Tried to allocate 2.00 GiB"
    failed = await _track_settled(studio, track.id)  # type: ignore[arg-type]
    assert (failed.status, failed.error, failed.path) == ("failed", finished.error, None)
    assert (await studio.scenes.get(scene.id)).music_track_id is None
    assert not list(studio.media.path_of(f"projects/{project_id}/music").glob("*.wav"))

    ace.fail_task = None
    retried = await studio.music.retry(track.id, "aiko")  # type: ignore[arg-type]
    assert (retried.status, retried.error, retried.job_id) == ("generating", None, job.id)
    ready = await _track_settled(studio, track.id)  # type: ignore[arg-type]
    assert ready.status == "ready", ready.error
    assert (await studio.scenes.get(scene.id)).music_track_id == track.id  # the retried job still attaches it
    with pytest.raises(Conflict, match="only a failed generated track can be retried"):
        await studio.music.retry(track.id, "aiko")  # type: ignore[arg-type]


async def test_cancelling_the_job_stops_polling_and_fails_the_track_as_cancelled(
    on_ace: Studio, ace: FakeAceStep
) -> None:
    studio = on_ace
    ace.polls_before_done = 100_000
    project_id = await _project(studio)
    track, job = await studio.music.generate(project_id, MusicRequest(mood="action", duration_seconds=5), "aiko")

    async def polled() -> bool:
        return len(ace.queries) >= 1

    await _until(polled, 20, "ACE-Step to be polled")
    await studio.jobs.cancel(job.id, "aiko")  # type: ignore[arg-type]
    cancelled = await _track_settled(studio, track.id)  # type: ignore[arg-type]
    assert (cancelled.status, cancelled.error) == ("failed", "cancelled")
    assert (await studio.jobs.get(job.id)).state == JobState.CANCELLED  # type: ignore[arg-type]
    [worker] = [w for w in studio.workers.workers if w.url == ace.url]

    async def idle() -> bool:
        return worker.in_flight == 0  # the polling task has ended

    await _until(idle, 10, "the ACE-Step worker to drop the job")


async def test_a_queued_job_cancelled_before_it_runs_fails_its_track(tmp_path: Path) -> None:
    studio = await _started(_settings(tmp_path, "http://127.0.0.1:9"))
    try:
        await studio.workers.stop()  # nothing takes the job: it stays queued
        project_id = await _project(studio)
        track, job = await studio.music.generate(project_id, MusicRequest(mood="comedic"), "aiko")
        await studio.jobs.cancel(job.id, "aiko")  # type: ignore[arg-type]
        assert (await studio.music.get(track.id)).error == "cancelled"  # type: ignore[arg-type]
    finally:
        await studio.stop()


async def test_an_unreachable_server_fails_the_job_naming_it_and_the_fix(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9"
    studio = await _started(_settings(tmp_path, url))
    try:
        project_id = await _project(studio)
        track, job = await studio.music.generate(project_id, MusicRequest(mood="powerful"), "aiko")
        [finished] = await _finished(studio, [job], within=30)
        assert finished.state == JobState.FAILED
        assert finished.error == (
            f"ACE-Step at {url} is not reachable (connection refused): start its API server "
            "(python -m acestep.api_server) or correct the device's ace_step_url"
        )
        assert (await _track_settled(studio, track.id)).error == finished.error  # type: ignore[arg-type]
    finally:
        await studio.stop()


@pytest.mark.parametrize("api", ["official", "wrapper"])
async def test_an_http_error_not_audio_and_a_timeout_are_each_said_plainly(
    tmp_path: Path, ace: FakeAceStep, api: str
) -> None:
    studio = await _started(_settings(tmp_path, ace.url, api, music_timeout_seconds=2.0))
    try:
        project_id = await _project(studio)
        submit = "/release_task" if api == "official" else "/generate"

        ace.fail_with = 500
        _, job = await studio.music.generate(project_id, MusicRequest(mood="tense", duration_seconds=2), "aiko")
        [failed] = await _finished(studio, [job], within=30)
        assert failed.error == f"ACE-Step at {ace.url} refused POST {submit}: HTTP 500 fake failure 500"

        ace.fail_with = None
        ace.serve_garbage = True
        _, job = await studio.music.generate(project_id, MusicRequest(mood="tense", duration_seconds=2), "aiko")
        [failed] = await _finished(studio, [job], within=30)
        assert failed.error.startswith(f"ACE-Step at {ace.url} returned something that is not audio: ")  # type: ignore[union-attr]

        ace.serve_garbage = False
        ace.polls_before_done = 100_000
        _, job = await studio.music.generate(project_id, MusicRequest(mood="tense", duration_seconds=2), "aiko")
        [failed] = await _finished(studio, [job], within=30)
        assert failed.error.startswith(f"ACE-Step at {ace.url} did not finish within 2 s (music_timeout_seconds)")  # type: ignore[union-attr]
    finally:
        await studio.stop()


async def test_a_wrapper_whose_output_folder_is_not_reachable_fails_saying_so(tmp_path: Path, ace: FakeAceStep) -> None:
    ace.reported_root = "/opt/tower-ace-step/output"
    studio = await _started(_settings(tmp_path, ace.url, "wrapper"))
    try:
        project_id = await _project(studio)
        _, job = await studio.music.generate(project_id, MusicRequest(mood="tense", duration_seconds=2), "aiko")
        [failed] = await _finished(studio, [job], within=30)
        assert failed.state == JobState.FAILED
        assert f"ACE-Step's wrapper at {ace.url} wrote its music to /opt/tower-ace-step/output/" in (failed.error or "")
        assert "that folder must be reachable from the studio" in (failed.error or "")
    finally:
        await studio.stop()


async def test_a_server_of_the_other_protocol_is_named(tmp_path: Path) -> None:
    with FakeAceStep() as ace:
        ace.app.router.routes = [r for r in ace.app.router.routes if getattr(r, "path", "") != "/generate"]
        studio = await _started(_settings(tmp_path, ace.url, "wrapper"))
        try:
            project_id = await _project(studio)
            _, job = await studio.music.generate(project_id, MusicRequest(mood="tense", duration_seconds=2), "aiko")
            [failed] = await _finished(studio, [job], within=30)
            assert "has no /generate (HTTP 404): is it the official API?" in (failed.error or "")
        finally:
            await studio.stop()


async def test_without_an_ace_step_device_generating_is_refused_with_the_fix(studio: Studio) -> None:
    project_id = await _project(studio)
    assert "no device hosts ACE-Step" in (studio.music.generation_unavailable() or "")
    with pytest.raises(Invalid) as refused:
        await studio.music.generate(project_id, MusicRequest(mood="tense"), "aiko")
    assert refused.value.field == "device" and "ace_step_url" in refused.value.message
    assert await studio.music.list(project_id) == []


async def test_generate_checks_its_request_before_queueing(on_ace: Studio) -> None:
    studio = on_ace
    project_id = await _project(studio)
    other = await _scene(studio, await _project(studio))
    for request, field in (
        (MusicRequest(mood="hopeful"), "mood"),
        (MusicRequest(duration_seconds=301), "duration_seconds"),
        (MusicRequest(duration_seconds=0.5), "duration_seconds"),
        (MusicRequest(seed=-1), "seed"),
        (MusicRequest(scene_id=other.id), "scene_id"),
    ):
        with pytest.raises(Invalid) as refused:
            await studio.music.generate(project_id, request, "aiko")
        assert refused.value.field == field
    with pytest.raises(NotFound):
        await studio.music.generate(project_id, MusicRequest(scene_id=uuid.uuid4()), "aiko")
    # A scene longer than ACE-Step makes is given the longest piece (scene assembly loops it).
    long = await _scene(studio, project_id, target_duration_seconds=900)
    track, _ = await studio.music.generate(project_id, MusicRequest(scene_id=long.id), "aiko")
    assert track.duration_seconds == 300
    assert [t.id for t in await studio.music.list(project_id)] == [track.id]


async def test_a_track_left_generating_by_a_job_that_ended_meanwhile_is_failed_on_start(on_ace: Studio) -> None:
    studio = on_ace
    await studio.workers.stop()
    project_id = await _project(studio)
    track, job = await studio.music.generate(project_id, MusicRequest(mood="tense"), "aiko")
    await studio.jobs.cancel(job.id, "aiko")  # type: ignore[arg-type]
    await _set_track(studio, track.id, status="generating", error=None)  # type: ignore[arg-type]  # as if it had missed the event
    assert await studio.music.reconcile() == 1
    assert (await studio.music.get(track.id)).error == "cancelled"  # type: ignore[arg-type]


# --- temp beds ------------------------------------------------------------------------------------------------


async def test_a_temp_bed_is_a_loopable_48k_stereo_wav_cached_in_the_data_folder(studio: Studio) -> None:
    path = await studio.music.temp_bed_path("tense")
    assert path == studio.settings.data_dir / "music" / "temp-beds" / "tense-v1.wav"
    stream = await asyncio.to_thread(_stream, path)
    assert (stream["codec_name"], stream["sample_rate"], stream["channels"]) == ("pcm_s16le", "48000", 2)
    assert 8.0 <= float(stream["format"]["duration"]) <= 16.0
    info = await probe_audio(path)
    assert info.duration_seconds == pytest.approx(float(stream["format"]["duration"]))

    with wave.open(io.BytesIO(path.read_bytes())) as wav:
        samples = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").reshape(-1, 2).astype(float) / 32767
    assert 0.05 < np.max(np.abs(samples)) < 0.5  # audible, far from clipping
    # Seamless: the jump from the last sample back to the first is no bigger than a step inside the loop.
    steps = np.abs(np.diff(samples, axis=0)).max(axis=0)
    wrap = np.abs(samples[0] - samples[-1])
    assert np.all(wrap <= steps) and np.all(wrap < 0.02), (wrap, steps)

    before = path.stat().st_mtime_ns
    assert await studio.music.temp_bed_path("tense") == path
    assert path.stat().st_mtime_ns == before  # rendered once, then served from the cache
    with pytest.raises(Invalid):
        await studio.music.temp_bed_path("hopeful")


def test_every_mood_has_its_own_deterministic_bed() -> None:
    beds = {mood: render_temp_bed(mood) for mood in ("tense", "romantic", "action", "ambient")}
    assert render_temp_bed("tense") == beds["tense"]
    assert len(set(beds.values())) == 4
    for data in beds.values():
        with wave.open(io.BytesIO(data)) as wav:
            assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (48000, 2, 2)
            assert 8.0 <= wav.getnframes() / 48000 <= 16.0


# --- uploads ------------------------------------------------------------------------------------------------


async def test_uploads_keep_real_audio_and_refuse_everything_else_with_a_reason(studio: Studio, tmp_path: Path) -> None:
    project_id = await _project(studio)
    mp3 = await asyncio.to_thread(_sine, tmp_path, "storm.mp3", 2.0, "-c:a", "libmp3lame")
    wav = await asyncio.to_thread(_sine, tmp_path, "calm.wav", 1.5)

    storm = await studio.music.upload(project_id, "storm.mp3", _chunks(mp3), "aiko", title="Storm theme")
    assert (storm.title, storm.source, storm.status) == ("Storm theme", "uploaded", "ready")
    assert storm.path is not None and storm.path.startswith(f"projects/{project_id}/music/")
    assert storm.path.endswith(".mp3") and len(Path(storm.path).stem) == 64  # named by its SHA-256
    assert storm.duration_seconds == pytest.approx(2.0, abs=0.1)
    assert studio.media.path_of(storm.path).read_bytes() == mp3
    calm = await studio.music.upload(project_id, "calm.wav", _chunks(wav), "aiko")
    assert (calm.title, calm.duration_seconds) == ("calm", pytest.approx(1.5, abs=0.01))
    assert calm.path is not None and calm.path.endswith(".wav")
    assert [t.id for t in await studio.music.list(project_id)] == [calm.id, storm.id]

    with pytest.raises(Conflict, match="already in this project's music as “Storm theme”"):
        await studio.music.upload(project_id, "again.mp3", _chunks(mp3), "aiko")

    async def refused(name: str, data: bytes) -> str:
        with pytest.raises(Invalid) as refusal:
            await studio.music.upload(project_id, name, _chunks(data), "aiko")
        assert refusal.value.field == "file"
        return refusal.value.message

    assert "notes.mp3 is not a readable audio file" in await refused("notes.mp3", b"just some text, no audio" * 50)
    video = await asyncio.to_thread(
        _ffmpeg,
        tmp_path,
        "clip.mp4",
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=64x64:rate=5:duration=1",
        "-pix_fmt",
        "yuv420p",
    )
    assert "clip.mp4 has a video without sound" in await refused("clip.mp4", video)
    talking = await asyncio.to_thread(
        _ffmpeg,
        tmp_path,
        "talk.mp4",
        "-f", "lavfi", "-i", "testsrc=size=64x64:rate=5:duration=1",
        "-f", "lavfi", "-i", "sine=duration=1",
        "-pix_fmt", "yuv420p", "-shortest",
    )  # fmt: skip
    assert "talk.mp4 is a video; upload its soundtrack as an audio file" in await refused("talk.mp4", talking)
    long = await asyncio.to_thread(
        _ffmpeg, tmp_path, "long.mp3", "-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "1260", "-b:a", "8k"
    )
    assert "long.mp3 runs 21 minutes; music for a scene may run at most 20 minutes" in await refused("long.mp3", long)
    assert "not a plain file name" in await refused("../escape.mp3", mp3)
    assert "the file is empty" in await refused("empty.mp3", b"")
    # Nothing of a refused upload stays behind.
    folder = studio.media.path_of(f"projects/{project_id}/music")
    assert sorted(p.name for p in folder.iterdir()) == sorted(Path(t.path or "").name for t in (storm, calm))


async def test_a_playlist_or_concat_list_uploaded_as_music_is_refused_and_nothing_is_read_through_it(
    studio: Studio, tmp_path: Path
) -> None:
    project_id = await _project(studio)
    song = tmp_path / "song.mp3"
    song.write_bytes(await asyncio.to_thread(_sine, tmp_path, "song.mp3", 2.0, "-c:a", "libmp3lame"))
    for data, what in (
        (await asyncio.to_thread(hls_playlist, song), "an HLS playlist"),
        (ffconcat_list(song), "an ffconcat list"),
    ):
        with pytest.raises(Invalid, match=f"theme.mp3 is {what}, not an audio file; upload the audio file itself"):
            await studio.music.upload(project_id, "theme.mp3", _chunks(data), "aiko")
    assert await studio.music.list(project_id) == []
    folder = studio.media.path_of(f"projects/{project_id}/music")
    assert not folder.exists() or not any(folder.iterdir())


async def test_an_upload_over_the_size_limit_is_refused_while_it_streams(tmp_path: Path) -> None:
    studio = await _started(Settings(data_dir=tmp_path / "data", max_music_upload_mb=1))
    try:
        project_id = await _project(studio)
        big = chord_wav(6.0)  # 1.1 MB
        with pytest.raises(Invalid, match="the file is larger than 1 MB \\(max_music_upload_mb\\)"):
            await studio.music.upload(project_id, "big.wav", _chunks(big), "aiko")
        assert not list(studio.media.path_of(f"projects/{project_id}/music").iterdir())
        with pytest.raises(NotFound):
            await studio.music.upload(9999, "a.wav", _chunks(chord_wav(0.5)), "aiko")
    finally:
        await studio.stop()


# --- scenes' music --------------------------------------------------------------------------------------------


async def test_attaching_detaching_deleting_and_restoring_follow_the_rules(studio: Studio) -> None:
    project_id = await _project(studio)
    scene = await _scene(studio, project_id)
    track = await studio.music.upload(project_id, "storm.wav", _chunks(chord_wav(1.0)), "aiko", title="Storm theme")
    seen: list[MusicChanged] = []
    studio.events.subscribe(MusicChanged, seen.append)

    attached = await studio.music.attach(scene.id, track.id, "aiko")
    assert attached.music_track_id == track.id
    assert (await studio.music.attach(scene.id, track.id, "aiko")).music_track_id == track.id  # again: no change
    with pytest.raises(NotFound, match="there is no music track 4242"):
        await studio.music.attach(scene.id, 4242, "aiko")
    with pytest.raises(NotFound, match="there is no scene"):
        await studio.music.attach(uuid.uuid4(), track.id, "aiko")
    elsewhere = await studio.music.upload(await _project(studio), "x.wav", _chunks(chord_wav(0.7)), "aiko")
    with pytest.raises(Invalid, match="belongs to another project"):
        await studio.music.attach(scene.id, elsewhere.id, "aiko")
    await _set_track(studio, elsewhere.id, project_id=project_id, status="generating")  # type: ignore[arg-type]
    with pytest.raises(Conflict, match="is still generating; attach it once it is ready"):
        await studio.music.attach(scene.id, elsewhere.id, "aiko")
    await _set_track(studio, elsewhere.id, status="failed")  # type: ignore[arg-type]
    with pytest.raises(Conflict, match="failed to generate; retry it, then attach it"):
        await studio.music.attach(scene.id, elsewhere.id, "aiko")

    # A track a scene plays is only deleted when told to detach it; Undo (restore) attaches it again.
    with pytest.raises(Conflict, match=re.escape("is the music of scene 1. Harbour; detach it from them first")):
        await studio.music.delete(track.id, "aiko")  # type: ignore[arg-type]
    deleted = await studio.music.delete(track.id, "aiko", detach=True)  # type: ignore[arg-type]
    assert deleted.detached_scenes == [scene.id] and deleted.track.deleted_at is not None
    assert (await studio.scenes.get(scene.id)).music_track_id is None
    assert await studio.music.list(project_id) == [] or all(
        t.id != track.id for t in await studio.music.list(project_id)
    )
    assert track.id in [t.id for t in await studio.music.list(project_id, include_deleted=True)]
    assert studio.media.path_of(track.path or "").is_file()  # soft: the file stays
    with pytest.raises(Conflict, match="is deleted; restore it first"):
        await studio.music.attach(scene.id, track.id, "aiko")
    restored = await studio.music.restore(track.id, "aiko", reattach=deleted.detached_scenes)  # type: ignore[arg-type]
    assert restored.deleted_at is None
    assert (await studio.scenes.get(scene.id)).music_track_id == track.id

    detached = await studio.music.attach(scene.id, None, "aiko")
    assert detached.music_track_id is None
    await studio.scenes.delete(scene.id, "aiko")
    with pytest.raises(Conflict, match=re.escape("scene 1. Harbour is deleted")):
        await studio.music.attach(scene.id, track.id, "aiko")
    assert [(e.change, e.scene_id) for e in seen if e.track_id == track.id] == [
        ("attached", str(scene.id)),
        ("detached", str(scene.id)),
        ("deleted", None),
        ("restored", None),
        ("attached", str(scene.id)),
        ("detached", str(scene.id)),
    ]


async def test_a_scene_plays_its_track_or_its_moods_temp_bed_saying_why(studio: Studio) -> None:
    project_id = await _project(studio)
    scene = await _scene(studio, project_id, mood="furious, threatening")
    music = await studio.music.music_for_scene(scene)
    assert (music.label, music.temp_bed, music.note) == ("temp bed (threatening)", True, None)
    assert music.path == await studio.music.temp_bed_path("threatening")
    unsaid = await _scene(studio, project_id, mood="")
    assert (await studio.music.music_for_scene(unsaid)).label == "temp bed (ambient)"

    track = await studio.music.upload(project_id, "storm.wav", _chunks(chord_wav(1.0)), "aiko", title="Storm theme")
    scene = await studio.music.attach(scene.id, track.id, "aiko")
    music = await studio.music.music_for_scene(scene)
    assert (music.label, music.temp_bed, music.note) == ("“Storm theme” (uploaded)", False, None)
    assert music.path == studio.media.path_of(track.path or "")

    await _set_track(studio, track.id, status="failed", error="CUDA out of memory")  # type: ignore[arg-type]
    music = await studio.music.music_for_scene(scene)
    assert (music.temp_bed, music.label) == (True, "temp bed (threatening)")
    assert music.note == "the attached track “Storm theme” failed to generate: CUDA out of memory"
    await _set_track(studio, track.id, status="generating", error=None)  # type: ignore[arg-type]
    assert (await studio.music.music_for_scene(scene)).note == "the attached track “Storm theme” is still generating"
    await _set_track(studio, track.id, status="ready")  # type: ignore[arg-type]
    studio.media.path_of(track.path or "").unlink()
    music = await studio.music.music_for_scene(scene)
    assert music.temp_bed and music.note == f"the attached track “Storm theme” lost its audio file ({track.path})"
    await _set(studio, scene, music_track_id=track.id)
    await _set_track(studio, track.id, deleted_at=track.created_at)  # type: ignore[arg-type]
    assert (await studio.music.music_for_scene(scene)).note == "the attached track “Storm theme” was deleted"


async def test_a_temp_bed_can_be_kept_as_a_track_and_played_by_a_scene_of_another_mood(studio: Studio) -> None:
    project_id = await _project(studio)
    kept = await studio.music.keep_temp_bed(project_id, "peaceful", "aiko")
    assert (kept.source, kept.title, kept.status, kept.path) == (
        "temp_bed",
        "Temp bed (peaceful)",
        "ready",
        "music/temp-beds/peaceful-v1.wav",
    )
    with pytest.raises(Conflict):
        await studio.music.keep_temp_bed(project_id, "peaceful", "aiko")
    scene = await studio.music.attach((await _scene(studio, project_id)).id, kept.id, "aiko")
    music = await studio.music.music_for_scene(scene)
    assert (music.label, music.temp_bed) == ("“Temp bed (peaceful)” (temp bed)", False)
    music.path.unlink()  # the temp bed cache was cleared: the kept bed is rendered again
    again = await studio.music.music_for_scene(scene)
    assert (again.path, again.temp_bed, again.note) == (music.path, False, None) and again.path.is_file()


# --- the REST API ---------------------------------------------------------------------------------------------


@pytest.fixture
async def official(tmp_path: Path, ace: FakeAceStep) -> AsyncIterator[Studio]:
    studio = await _started(_settings(tmp_path, ace.url, "official"))
    try:
        yield studio
    finally:
        await studio.stop()


@pytest.fixture
async def api(official: Studio) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=guarded_api(official), client=LOOPBACK)
    async with httpx.AsyncClient(transport=transport, base_url="http://studio", timeout=30) as client:
        yield client


async def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def test_the_music_api_uploads_serves_ranges_generates_and_sets_a_scenes_music(
    api: httpx.AsyncClient, official: Studio, tmp_path: Path
) -> None:
    moods = await _ok(await api.get("/api/music/moods"))
    assert len(moods) == 15 and moods[0] == {
        "mood": "tense",
        "caption": caption_for("tense").removeprefix("orchestral anime soundtrack style, "),
        "temp_bed_url": "/api/music/temp-beds/tense",
    }
    bed = await api.get("/api/music/temp-beds/tense")
    assert bed.status_code == 200 and bed.headers["content-type"] == "audio/wav" and bed.content[:4] == b"RIFF"
    assert (await api.get("/api/music/temp-beds/hopeful")).status_code == 422

    project = await _ok(await api.post("/api/projects", json={"name": "Harbour Lights"}), 201)
    pid = project["id"]
    scene = await _ok(await api.post(f"/api/projects/{pid}/scenes", json={"title": "Storm", "mood": "action"}), 201)
    mp3 = await asyncio.to_thread(_sine, tmp_path, "storm.mp3", 2.0, "-c:a", "libmp3lame")
    track = await _ok(
        await api.post(
            f"/api/projects/{pid}/music", files={"file": ("storm.mp3", mp3, "audio/mpeg")}, data={"title": "Storm"}
        ),
        201,
    )
    assert (track["title"], track["source"], track["label"]) == ("Storm", "uploaded", "“Storm” (uploaded)")
    refused = await api.post(f"/api/projects/{pid}/music", files={"file": ("x.mp3", b"garbage" * 100, "audio/mpeg")})
    assert refused.status_code == 422 and "x.mp3 is not a readable audio file" in refused.json()["detail"]

    whole = await api.get(track["audio_url"])
    assert whole.status_code == 200 and whole.content == mp3
    part = await api.get(track["audio_url"], headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == mp3[:100]
    assert part.headers["content-range"] == f"bytes 0-99/{len(mp3)}"

    before = await _ok(await api.get(f"/api/scenes/{scene['id']}/music"))
    assert (before["label"], before["temp_bed"], before["note"], before["track"]) == (
        "temp bed (action)",
        True,
        None,
        None,
    )
    assert before["audio_url"] == "/api/music/temp-beds/action"
    after = await _ok(await api.post(f"/api/scenes/{scene['id']}/music", json={"track_id": track["id"]}))
    assert (after["label"], after["temp_bed"], after["track"]["id"]) == ("“Storm” (uploaded)", False, track["id"])
    assert after["audio_url"] == track["audio_url"]
    missing = await api.post(f"/api/scenes/{scene['id']}/music", json={"track_id": 9999})
    assert missing.status_code == 404 and missing.json()["detail"] == "there is no music track 9999"
    nowhere = await api.post(f"/api/scenes/{uuid.uuid4()}/music", json={"track_id": track["id"]})
    assert nowhere.status_code == 404
    assert (await api.post(f"/api/scenes/{scene['id']}/music", json={})).status_code == 422

    # Delete: 409 while a scene plays it, then detach and undo.
    busy = await api.delete(f"/api/music/{track['id']}")
    assert busy.status_code == 409 and "is the music of scene 1. Storm" in busy.json()["detail"]
    gone = await _ok(await api.delete(f"/api/music/{track['id']}", params={"detach": "true"}))
    assert gone["detached_scenes"] == [scene["id"]]
    assert await _ok(await api.get(f"/api/projects/{pid}/music")) == []
    assert len(await _ok(await api.get(f"/api/projects/{pid}/music", params={"deleted": "true"}))) == 1
    conflict = await api.post(f"/api/scenes/{scene['id']}/music", json={"track_id": track["id"]})
    assert conflict.status_code == 409 and "restore it first" in conflict.json()["detail"]
    back = await _ok(await api.post(f"/api/music/{track['id']}/restore", json={"reattach": gone["detached_scenes"]}))
    assert back["deleted_at"] is None
    assert (await _ok(await api.get(f"/api/scenes/{scene['id']}/music")))["track"]["id"] == track["id"]
    cleared = await _ok(await api.post(f"/api/scenes/{scene['id']}/music", json={"track_id": None}))
    assert cleared["temp_bed"] and cleared["track"] is None

    # Generate: 202 with the job; the track follows it to ready and attaches to the scene.
    queued = await _ok(
        await api.post(f"/api/projects/{pid}/music/generate", json={"scene_id": scene["id"], "duration_seconds": 2}),
        202,
    )
    assert queued["track"]["status"] == "generating" and queued["job"]["kind"] == MUSIC_JOB
    assert queued["track"]["caption"] == caption_for("action")
    ready = await _track_settled(official, queued["track"]["id"])
    assert ready.status == "ready", ready.error
    got = await _ok(await api.get(f"/api/music/{ready.id}"))
    assert got["audio_url"] == f"/api/music/{ready.id}/audio" and got["duration_seconds"] == pytest.approx(2.0)
    assert (await _ok(await api.get(f"/api/scenes/{scene['id']}/music")))["track"]["id"] == ready.id
    bad = await api.post(f"/api/projects/{pid}/music/generate", json={"duration_seconds": 600})
    assert bad.status_code == 422
    assert (await api.get("/api/music/4242")).status_code == 404


async def test_the_api_says_why_music_cannot_be_generated_without_a_device(tmp_path: Path) -> None:
    studio = await _started(Settings(data_dir=tmp_path / "data"))
    try:
        transport = httpx.ASGITransport(app=guarded_api(studio), client=LOOPBACK)
        async with httpx.AsyncClient(transport=transport, base_url="http://studio") as api:
            pid = (await _ok(await api.post("/api/projects", json={"name": "Quiet"}), 201))["id"]
            refused = await api.post(f"/api/projects/{pid}/music/generate", json={"mood": "tense"})
            assert refused.status_code == 503  # a missing backend, as everywhere
            assert "no device hosts ACE-Step: give a device an ace_step_url" in refused.json()["detail"]
    finally:
        await studio.stop()


async def test_probe_audio_refuses_a_picture(tmp_path: Path) -> None:
    picture = tmp_path / "cover.png"
    await asyncio.to_thread(
        _ffmpeg, tmp_path, "cover.png", "-f", "lavfi", "-i", "color=c=red:size=32x32", "-frames:v", "1"
    )
    with pytest.raises(NotAudio, match=re.escape("cover.png is a picture, not audio")):
        await probe_audio(picture)


async def test_the_client_reports_health_and_refuses_audio_on_another_host(ace: FakeAceStep) -> None:
    assert await AceStepClient(ace.url, "official", 10).health() == "ready"
    ace.models_initialized = False
    assert await AceStepClient(ace.url, "official", 10).health() == "ready; the music model loads with the first task"
    with pytest.raises(AceStepUnreachable, match=re.escape("ACE-Step at http://127.0.0.1:9 is not reachable")):
        await AceStepClient("http://127.0.0.1:9", "official", 10).health()
    client = AceStepClient(ace.url, "official", 10)
    assert client._audio_url("/tmp/api_audio/a b.wav") == "/v1/audio?path=%2Ftmp%2Fapi_audio%2Fa%20b.wav"
    assert client._audio_url(f"{ace.url}/v1/audio?path=x") == "/v1/audio?path=x"
    with pytest.raises(AceStepBadReply, match="named audio on another server"):
        client._audio_url("http://10.9.9.9:8001/v1/audio?path=x")
