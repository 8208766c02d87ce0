"""Scene assembly end to end with real ffmpeg, Piper, espeak-ng and Whisper: shots of different sizes and
frame rates joined with transitions, every line voiced and placed on its shot, music ducked under speech,
subtitles at the lines' real positions, and what happens when parts are missing or fail."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from services.bible.schemas import CharacterDraft
from services.errors import Conflict, Invalid
from services.scenes import SceneChanges, SceneDraft, ShotChanges, ShotDraft
from services.voice import VoiceProfile
from studio.config import Settings
from studio.models import JobState, Scene, Shot
from studio.root import Studio
from tests.bible_helpers import GALAXY
from tests.integration.test_api import guarded_api
from tests.integration.test_scene_generation import _scene, _settled
from tests.speech import heard, words

FPS = 24
SIZE = (640, 360)
LINE_B = "The storm is coming to the harbour tonight."
LINE_C = "Then we sail before the sun comes up."


@pytest.fixture
async def studio(tmp_path: Path) -> AsyncIterator[Studio]:
    studio = Studio.build(Settings(data_dir=tmp_path / "data", job_claim_poll_seconds=0.2))
    studio.migrate()
    await studio.start()
    try:
        yield studio
    finally:
        await studio.stop()


async def _ffmpeg(command: list[str]) -> None:
    await asyncio.to_thread(subprocess.run, command, check=True)


def _ffprobe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_frames",
            "-print_format",
            "json",
            "-show_streams",
            "-show_format",
            "-show_chapters",
            path,
        ],
        check=True,
        capture_output=True,
    ).stdout
    return json.loads(out)


def _mean_volume(path: Path, start: float, seconds: float, filters: str) -> float:
    """Mean level (dB) of the file's sound from `start` for `seconds`, after `filters`."""
    run = subprocess.run(
        ["ffmpeg", "-hide_banner", "-ss", str(start), "-t", str(seconds), "-i", path, "-vn", "-af",
         f"{filters},volumedetect", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(re.search(r"mean_volume: (-?[\d.]+) dB", run.stderr).group(1))  # type: ignore[union-attr]


async def _project(studio: Studio) -> tuple[int, dict[str, int]]:
    project = await studio.projects.create(
        GALAXY.model_copy(
            update={
                "name": f"Harbour {uuid.uuid4().hex[:6]}",
                "frame_width": SIZE[0],
                "frame_height": SIZE[1],
                "frame_rate": FPS,
            }
        ),
        "aiko",
    )
    mira = await studio.characters.create(project.id, CharacterDraft(name="Mira"), "aiko")  # type: ignore[arg-type]
    jun = await studio.characters.create(project.id, CharacterDraft(name="Jun"), "aiko")  # type: ignore[arg-type]
    await studio.voices.set_profile(jun.id, VoiceProfile(engine="espeak", variant="m3", speed=160), "aiko")  # type: ignore[arg-type]
    return project.id, {"Mira": mira.id, "Jun": jun.id}  # type: ignore[return-value,dict-item]


async def _given_video(
    studio: Studio, shot: Shot, source: str, size: tuple[int, int], fps: int, seconds: float
) -> None:
    """Give a shot a video as another engine would have made it (its own size and frame rate)."""
    relative = f"projects/given/{shot.id}.mp4"
    path = studio.media.path_of(relative)
    path.parent.mkdir(parents=True, exist_ok=True)
    await _ffmpeg(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"{source}=size={size[0]}x{size[1]}:rate={fps}",
         "-t", str(seconds), "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast", str(path)]
    )  # fmt: skip
    async with studio.db.session() as session:
        row = await session.get(Shot, shot.id)
        row.output_video_path, row.status = relative, "completed"  # type: ignore[union-attr]
        session.add(row)


async def _mixed_engine_scene(studio: Studio, project_id: int, cast: dict[str, int]) -> Scene:
    """FramePack-, Wan- and LTX-shaped shots: 544x704 at 30 fps, 480x720 at 16 fps, 512x320 at 24 fps."""
    scene = await studio.scenes.create(project_id, SceneDraft(title="Departure", mood="tense"), "aiko")
    specs = [
        ("testsrc", (544, 704), 30, 4.0, "cut", 0.0, "", None),
        ("testsrc2", (480, 720), 16, 4.0, "dissolve", 0.5, LINE_B, cast["Mira"]),
        ("smptebars", (512, 320), 24, 3.0, "fadeblack", 0.5, LINE_C, cast["Jun"]),
    ]
    for source, size, fps, seconds, transition, overlap, line, speaker in specs:
        draft = ShotDraft(
            duration_seconds=seconds,
            transition_type=transition,  # type: ignore[arg-type]
            transition_duration=overlap,
            dialogue_text=line,
            dialogue_character_id=speaker,
            characters_present=[speaker] if speaker else [],
            video_engine="animatic",
        )
        shot = await studio.scenes.add_shot(scene.id, draft, "aiko")
        await _given_video(studio, shot, source, size, fps, seconds)
    return scene


async def _hum(studio: Studio, project_id: int, tmp_path: Path) -> int:
    """Upload a 40 Hz hum as the scene's music: below any voice, so its level can be read under speech."""
    hum = tmp_path / "hum.wav"
    await _ffmpeg(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=f=40:r=48000:d=6", "-ac", "2", str(hum)])

    async def chunks() -> AsyncIterator[bytes]:
        yield hum.read_bytes()

    track = await studio.music.upload(project_id, "hum.wav", chunks(), "aiko")
    return track.id  # type: ignore[return-value]


async def _assembled(studio: Studio, scene: Scene) -> Scene:
    job = await studio.scene_assembly.start(scene.id, "aiko")
    finished = await _settled(studio, job.id, within=120)  # type: ignore[arg-type]
    assert finished.state == JobState.SUCCEEDED, finished.error
    return await studio.scenes.get(scene.id)


async def test_a_mixed_engine_scene_is_joined_voiced_ducked_and_subtitled_in_one_render(
    studio: Studio, tmp_path: Path
) -> None:
    project_id, cast = await _project(studio)
    scene = await _mixed_engine_scene(studio, project_id, cast)
    await studio.music.attach(scene.id, await _hum(studio, project_id, tmp_path), "aiko")
    scene = await _assembled(studio, scene)

    video = studio.media.path_of(scene.final_video_path or "")
    probe = _ffprobe(video)
    streams = [(s["codec_type"], s["codec_name"]) for s in probe["streams"]]
    assert streams == [("video", "h264"), ("audio", "aac")]
    picture, sound = probe["streams"]
    assert (picture["width"], picture["height"], picture["r_frame_rate"]) == (640, 360, "24/1")
    # 4 + 4 + 3 s less two 0.5 s transitions: 10 s, 240 frames, and the sound lasts as long as the picture.
    assert int(picture["nb_read_frames"]) == 240
    assert float(probe["format"]["duration"]) == pytest.approx(10.0, abs=1 / FPS)
    assert float(sound["duration"]) == pytest.approx(10.0, abs=1 / FPS)
    assert scene.actual_duration_seconds == pytest.approx(10.0, abs=1 / FPS)
    assert scene.assembly_warnings == []
    head = video.read_bytes()[:1_000_000]
    assert 0 <= head.find(b"moov") < head.find(b"mdat")  # faststart: a browser plays before it has all of it

    # The hum (under 60 Hz, where no voice is) dips while Mira speaks (3.5 s on) against before she does.
    hum_only = "lowpass=f=60,lowpass=f=60,lowpass=f=60"
    before = _mean_volume(video, 1.4, 1.8, hum_only)
    under_speech = _mean_volume(video, 4.2, 1.2, hum_only)
    assert before - under_speech >= 6, f"music {before} dB before the line, {under_speech} dB under it"

    # Every line is there: Whisper finds each one's words.
    heard_words = words(await heard(video))
    assert {"storm", "harbor", "tonight"} <= heard_words
    assert {"sail", "sun"} <= heard_words

    # Subtitles at the lines' real starts: shot 2 at 3.5 s (4 s less the dissolve), shot 3 at 7 s.
    srt = studio.media.path_of(scene.subtitles_path or "").with_suffix(".srt").read_text()
    assert "00:00:03,500 --> " in srt and LINE_B in " ".join(srt.split())  # long lines wrap onto two rows
    assert "00:00:07,000 --> " in srt and LINE_C in srt
    vtt = studio.media.path_of(scene.subtitles_path or "").read_text()
    assert vtt.startswith("WEBVTT") and "<v Mira>The storm" in vtt and "<v Jun>Then we sail" in vtt
    with Image.open(studio.media.path_of(scene.poster_path or "")) as poster:
        assert (poster.format, poster.size) == ("JPEG", SIZE)


async def test_reassembling_replaces_the_files_and_a_cancelled_assembly_keeps_the_last_one(studio: Studio) -> None:
    project_id, cast = await _project(studio)
    scene = await _mixed_engine_scene(studio, project_id, cast)
    first = await _assembled(studio, scene)
    first_video = studio.media.path_of(first.final_video_path or "")
    # No music attached: the mood's temp bed plays, which is not worth a warning.
    assert first.assembly_warnings == []

    second = await _assembled(studio, scene)
    assert second.final_video_path != first.final_video_path
    assert not first_video.exists()  # the old files go once the new ones are in place
    assert studio.media.path_of(second.final_video_path or "").is_file()

    job = await studio.scene_assembly.start(scene.id, "aiko")
    with pytest.raises(Conflict, match="already being assembled"):
        await studio.scene_assembly.start(scene.id, "aiko")
    await studio.jobs.cancel(job.id, "aiko")  # type: ignore[arg-type]
    cancelled = await _settled(studio, job.id)  # type: ignore[arg-type]
    assert cancelled.state == JobState.CANCELLED
    kept = await studio.scenes.get(scene.id)
    assert kept.final_video_path == second.final_video_path
    assert studio.media.path_of(kept.final_video_path or "").is_file()
    folder = studio.media.path_of(kept.final_video_path or "").parent
    assert not [p.name for p in folder.iterdir() if "part" in p.name]  # no half-written file is left
    assert await studio.scene_assembly.running_job(kept) is None  # and it can be assembled again


async def test_what_is_missing_is_left_out_and_said(studio: Studio) -> None:
    project_id, cast = await _project(studio)
    scene = await _mixed_engine_scene(studio, project_id, cast)
    # A shot with no video yet, one whose file is damaged, and a speaker whose voice server is not configured.
    await studio.scenes.add_shot(scene.id, ShotDraft(duration_seconds=2, video_engine="animatic"), "aiko")
    damaged = await studio.scenes.add_shot(scene.id, ShotDraft(duration_seconds=2, video_engine="animatic"), "aiko")
    studio.media.path_of("projects/given/damaged.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 cut off")
    async with studio.db.session() as session:
        row = await session.get(Shot, damaged.id)
        row.output_video_path = "projects/given/damaged.mp4"  # type: ignore[union-attr]
        session.add(row)
    clone = await studio.characters.create(project_id, CharacterDraft(name="Echo"), "aiko")
    async with studio.db.session() as session:
        # Set directly: the studio refuses the http engine while no voice server is configured, but a profile
        # saved while one was must still not stop a scene from assembling.
        row = await session.get(type(clone), clone.id)
        row.voice_profile = {"engine": "http", "reference_sample": "echo.wav"}  # type: ignore[union-attr]
        session.add(row)
    shots = await studio.scenes.shots(scene.id)
    speaks = ShotChanges(
        dialogue_text="Can anyone hear me?", dialogue_character_id=clone.id, characters_present=[clone.id]
    )
    await studio.scenes.update_shot(shots[0].id, speaks, "aiko")
    assembled = await _assembled(studio, scene)

    warnings = assembled.assembly_warnings
    assert any(w.startswith("shot 4 has no video yet") for w in warnings), warnings
    assert any(w.startswith("shot 5's video cannot be read") for w in warnings), warnings
    assert any(w.startswith("shot 1: the line has no voice") and "voice" in w for w in warnings), warnings
    srt = studio.media.path_of(assembled.subtitles_path or "").with_suffix(".srt").read_text()
    assert "Can anyone hear me?" in srt  # an unvoiced line is still in the subtitles
    assert float(_ffprobe(studio.media.path_of(assembled.final_video_path or ""))["format"]["duration"]) == (
        pytest.approx(10.0, abs=1 / FPS)
    )


async def test_a_transition_ffmpeg_refuses_falls_back_to_hard_cuts_with_a_warning(studio: Studio) -> None:
    project_id, cast = await _project(studio)
    scene = await _mixed_engine_scene(studio, project_id, cast)
    shots = await studio.scenes.shots(scene.id)
    async with studio.db.session() as session:
        # A transition this ffmpeg does not know (a row from a newer studio, say) makes xfade fail.
        row = await session.get(Shot, shots[1].id)
        row.transition_type = "spiralout"  # type: ignore[union-attr]
        session.add(row)
    assembled = await _assembled(studio, scene)
    assert any("joined with hard cuts" in w for w in assembled.assembly_warnings), assembled.assembly_warnings
    # Hard cuts overlap nothing: the scene is the shots end to end, and the lines move with their shots.
    assert assembled.actual_duration_seconds == pytest.approx(11.0, abs=1 / FPS)
    srt = studio.media.path_of(assembled.subtitles_path or "").with_suffix(".srt").read_text()
    assert "00:00:04,000 --> " in srt and "00:00:08,000 --> " in srt


async def test_a_line_longer_than_the_last_shot_holds_the_shot_until_it_ends(studio: Studio) -> None:
    project_id, cast = await _project(studio)
    scene = await studio.scenes.create(project_id, SceneDraft(title="Short"), "aiko")
    long_line = "We will sail past the lighthouse, beyond the reef, and far out into the open sea."
    shot = await studio.scenes.add_shot(
        scene.id,
        ShotDraft(
            dialogue_text=long_line,
            dialogue_character_id=cast["Mira"],
            characters_present=[cast["Mira"]],
            video_engine="animatic",
        ),
        "aiko",
    )
    await _given_video(studio, shot, "testsrc", SIZE, FPS, 1.0)
    assembled = await _assembled(studio, scene)
    assert any("held" in w for w in assembled.assembly_warnings), assembled.assembly_warnings
    seconds = assembled.actual_duration_seconds or 0
    assert seconds > 3  # the one-second shot stays on screen until the line is spoken
    # The line's end is in the video (Whisper once heard "lighthouse" as another word: the last two suffice).
    assert {"reef", "sea"} <= words(await heard(studio.media.path_of(assembled.final_video_path or "")))


async def test_nothing_to_assemble_and_a_deleted_scene_are_refused(studio: Studio) -> None:
    project_id, _ = await _project(studio)
    scene = await studio.scenes.create(project_id, SceneDraft(title="Empty"), "aiko")
    await studio.scenes.add_shot(scene.id, ShotDraft(video_engine="animatic"), "aiko")
    with pytest.raises(Invalid, match="generate the scene first"):
        await studio.scene_assembly.start(scene.id, "aiko")
    await studio.scenes.update(scene.id, SceneChanges(deleted=True), "aiko")
    with pytest.raises(Invalid, match="deleted"):
        await studio.scene_assembly.start(scene.id, "aiko")


async def test_the_api_assembles_and_serves_the_video_with_range_requests(studio: Studio) -> None:
    project_id, cast = await _project(studio)
    scene = await _mixed_engine_scene(studio, project_id, cast)
    transport = httpx.ASGITransport(app=guarded_api(studio), client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://studio", timeout=30) as api:
        assert (await api.get(f"/api/scenes/{scene.id}/video")).status_code == 404
        queued = await api.post(f"/api/scenes/{scene.id}/assemble")
        assert queued.status_code == 202, queued.text
        assert (await api.post(f"/api/scenes/{scene.id}/assemble")).status_code == 409
        finished = await _settled(studio, queued.json()["id"], within=120)
        assert finished.state == JobState.SUCCEEDED, finished.error
        body = (await api.get(f"/api/scenes/{scene.id}")).json()
        assert body["actual_duration_seconds"] == pytest.approx(10.0, abs=1 / FPS)
        assert body["assembly_warnings"] == [] and body["assembly_job_id"] is None
        part = await api.get(f"/api/scenes/{scene.id}/video", headers={"Range": "bytes=0-99"})
        assert part.status_code == 206 and len(part.content) == 100
        assert part.headers["content-type"] == "video/mp4"
        assert part.headers["content-range"].startswith("bytes 0-99/")
        vtt = await api.get(f"/api/scenes/{scene.id}/subtitles.vtt")
        assert vtt.status_code == 200 and vtt.text.startswith("WEBVTT")
        srt = await api.get(f"/api/scenes/{scene.id}/subtitles.srt")
        assert srt.status_code == 200 and LINE_C in srt.text
        poster = await api.get(f"/api/scenes/{scene.id}/poster", params={"v": body["assembled_at"]})
        assert poster.status_code == 200 and "immutable" in poster.headers["cache-control"]
        bad = await api.patch(f"/api/scenes/{scene.id}", json={"post_upscale_factor": 9})
        assert bad.status_code == 422
        on = await api.patch(f"/api/scenes/{scene.id}", json={"post_upscale_factor": 2, "post_interpolate_fps": 48})
        assert (on.json()["post_upscale_factor"], on.json()["post_interpolate_fps"]) == (2, 48)
        off = await api.patch(f"/api/scenes/{scene.id}", json={"post_upscale_factor": None})
        assert (off.json()["post_upscale_factor"], off.json()["post_interpolate_fps"]) == (None, 48)


async def test_an_animatic_scene_assembles_with_voices_the_temp_bed_and_subtitles(studio: Studio) -> None:
    scene, shots = await _scene(studio, "animatic")
    generated = await _settled(studio, (await studio.scene_generation.start(scene.id, "aiko")).id)  # type: ignore[arg-type]
    assert generated.state == JobState.SUCCEEDED, generated.error
    rin = shots[0].characters_present[0]
    lines = {0: "Welcome home, Rin.", 2: "The lights are still on at the harbour."}
    for index, text in lines.items():
        await studio.scenes.update_shot(
            shots[index].id, ShotChanges(dialogue_text=text, dialogue_character_id=rin), "aiko"
        )
    job = await studio.scene_assembly.start(scene.id, "aiko")
    finished = await _settled(studio, job.id, within=120)  # type: ignore[arg-type]
    assert finished.state == JobState.SUCCEEDED, finished.error
    assert finished.result["music"] == "temp bed (ambient)" and finished.result["lines"] == 2  # type: ignore[index]
    assembled = await studio.scenes.get(scene.id)
    assert assembled.assembly_warnings == []
    heard_words = words(await heard(studio.media.path_of(assembled.final_video_path or "")))
    # Piper varies each reading, and Whisper sometimes splits the first word at the scene's very start.
    assert "home" in heard_words and heard_words & {"welcome", "come", "well"}, heard_words
    assert {"lights", "harbor"} <= heard_words, heard_words
    srt = studio.media.path_of(assembled.subtitles_path or "").with_suffix(".srt").read_text()
    assert srt.startswith("1\n00:00:00,000 --> ") and "The lights are still on at the harbour." in srt
