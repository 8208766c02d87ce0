"""Episode assembly with real ffmpeg: scenes assembled by the studio joined with fadeblack, the sound kept
across every transition, smart and full renders of the same episode identical in length and frames, and
scenes outside the house format rendered in full."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from services.assembly.graph import SceneRender, ShotClip
from services.assembly.house import house_format
from services.assembly.timeline import frame_rate, plan_frames
from services.episodes import EpisodeDraft, EpisodeSceneEntry
from services.episodes.render import chapters, probe_scene_video, render_full
from services.episodes.sound import encode_sound
from services.errors import Invalid
from services.scenes import SceneDraft, ShotDraft
from studio.config import Settings
from studio.models import Episode, JobState, Scene, Shot
from studio.root import Studio
from tests.integration.test_scene_assembly import FPS, SIZE, _assembled, _ffmpeg, _ffprobe, _project, studio
from tests.integration.test_scene_generation import _settled

__all__ = ["studio"]  # the fixture, shared with the scene assembly tests
LINE = "Hold the lantern higher."


async def _tone_scene(studio: Studio, project_id: int, title: str, hz: int, seconds: float, line: int | None) -> Scene:
    """A one-shot scene whose shot carries its own steady tone, assembled by the studio (house format)."""
    scene = await studio.scenes.create(project_id, SceneDraft(title=title, mood="calm"), "aiko")
    draft = ShotDraft(
        duration_seconds=seconds,
        video_engine="animatic",
        dialogue_text=LINE if line else "",
        dialogue_character_id=line,
        characters_present=[line] if line else [],
    )
    shot = await studio.scenes.add_shot(scene.id, draft, "aiko")
    relative = f"projects/given/{shot.id}.mp4"
    path = studio.media.path_of(relative)
    path.parent.mkdir(parents=True, exist_ok=True)
    await _ffmpeg(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size=320x240:rate=30:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=f={hz}:r=48000:d={seconds}", "-c:v", "libx264", "-preset", "ultrafast",
         "-pix_fmt", "yuv420p", "-c:a", "aac", str(path)]
    )  # fmt: skip
    async with studio.db.session() as session:
        row = await session.get(Shot, shot.id)
        row.output_video_path, row.status = relative, "completed"  # type: ignore[union-attr]
        session.add(row)
    return await _assembled(studio, scene)


async def _episode(studio: Studio, project_id: int, scenes: list[Scene], transition: str = "fadeblack") -> Episode:
    episode = await studio.episodes.create(project_id, EpisodeDraft(title="The Lantern"), "aiko")
    entries = [EpisodeSceneEntry(scene_id=s.id, transition=transition) for s in scenes]  # type: ignore[arg-type]
    await studio.episodes.set_scenes(episode.id, entries, "aiko")
    return episode


async def _assembled_episode(studio: Studio, episode: Episode) -> Episode:
    job = await studio.episode_assembly.start(episode.id, "aiko")
    finished = await _settled(studio, job.id, within=180)  # type: ignore[arg-type]
    assert finished.state == JobState.SUCCEEDED, finished.error
    return await studio.episodes.get(episode.id)


def _levels(path: Path, start: float, seconds: float) -> list[float]:
    """Mean level (dB) of each tenth of a second of the file's sound from `start`."""
    run = subprocess.run(
        ["ffmpeg", "-hide_banner", "-ss", f"{start:.3f}", "-t", f"{seconds:.3f}", "-i", path, "-vn", "-af",
         "asetnsamples=4800,astats=metadata=1:reset=1,ametadata=print:key=lavfi.astats.Overall.RMS_level",
         "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return [float(v) if v != "-inf" else -200.0 for v in re.findall(r"RMS_level=(-?[\d.inf]+)", run.stderr)]


def _min_psnr(a: Path, b: Path, log: Path) -> float:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", a, "-i", b, "-lavfi", f"[0:v][1:v]psnr=stats_file={log}", "-f", "null", "-"],
        check=True,
    )
    return min(float(m) for m in re.findall(r"psnr_avg:([\d.]+|inf)", log.read_text()))


async def test_three_scenes_with_fadeblack_keep_their_sound_and_smart_matches_full(
    studio: Studio, tmp_path: Path
) -> None:
    project_id, cast = await _project(studio)
    scenes = [
        await _tone_scene(studio, project_id, "Dusk", 330, 4.0, None),
        await _tone_scene(studio, project_id, "Pier", 440, 5.0, cast["Mira"]),
        await _tone_scene(studio, project_id, "Boat", 550, 3.0, None),
    ]
    episode = await _assembled_episode(studio, await _episode(studio, project_id, scenes))

    assert episode.status == "assembled" and episode.render_mode == "smart", episode.assembly_warnings
    video = studio.media.path_of(episode.final_video_path or "")
    probe = _ffprobe(video)
    picture, sound, chapter_track = probe["streams"]
    assert (picture["codec_name"], sound["codec_name"], chapter_track["codec_type"]) == ("h264", "aac", "data")
    # 4 + 5 + 3 s less two 0.5 s overlaps: 11 s, 264 frames at 24 fps; the sound as long as the picture.
    assert int(picture["nb_read_frames"]) == 264
    assert float(probe["format"]["duration"]) == pytest.approx(11.0, abs=1 / FPS)
    assert float(sound["duration"]) == pytest.approx(11.0, abs=0.03)
    assert episode.actual_duration_seconds == pytest.approx(11.0, abs=1 / FPS)
    # Sound all through each transition (the earlier system's xfade dropped every second of it).
    for boundary in (3.5, 8.0):
        levels = _levels(video, boundary - 1.0, 2.0)
        assert len(levels) >= 19 and min(levels) > -35, (boundary, levels)
    # The line of the second scene is re-timed to where that scene plays.
    srt = studio.media.path_of(episode.subtitles_path or "").read_text()
    assert LINE in srt and "00:00:03,500 -->" in srt
    # A chapter per scene, from where each comes in (what Jellyfin offers as chapter stops).
    assert [(c["tags"]["title"], float(c["start_time"])) for c in probe["chapters"]] == [
        ("Scene 1: Dusk", 0.0),
        ("Scene 2: Pier", 3.5),
        ("Scene 3: Boat", 8.0),
    ]
    thumbnail = studio.media.path_of(episode.thumbnail_path or "")
    assert thumbnail.read_bytes()[:3] == b"\xff\xd8\xff"

    # The same episode rendered in full: the same length, frames and pictures.
    fps = frame_rate(FPS)
    house = house_format(studio.settings, SIZE[0], SIZE[1], fps)
    videos = [await probe_scene_video(studio.media.path_of(s.final_video_path or ""), house) for s in scenes]
    timeline = plan_frames(fps, [(v.frames, "fadeblack", 0.5) for v in videos])

    async def quiet(_fraction: float, _message: str) -> None:
        return None

    full, marks = tmp_path / "full.mp4", tmp_path / "chapters.txt"
    marks.write_text(chapters(timeline, ["Dusk", "Pier", "Boat"]))
    await render_full(timeline, videos, house, full, marks, quiet)
    full_probe = _ffprobe(full)
    assert int(full_probe["streams"][0]["nb_read_frames"]) == int(picture["nb_read_frames"])
    assert float(full_probe["format"]["duration"]) == pytest.approx(float(probe["format"]["duration"]), abs=1e-3)
    assert _min_psnr(video, full, tmp_path / "psnr.log") > 30


async def test_scenes_outside_the_house_format_are_rendered_in_full_with_their_sound(studio: Studio) -> None:
    project_id, _ = await _project(studio)
    first = await _tone_scene(studio, project_id, "Dusk", 330, 3.0, None)
    second = await _tone_scene(studio, project_id, "Pier", 440, 3.0, None)
    # Replace the second scene's video with one made elsewhere: another size, rate and encoder.
    foreign = f"projects/given/foreign-{second.id}.mp4"
    path = studio.media.path_of(foreign)
    await _ffmpeg(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "smptebars=size=480x720:rate=16:duration=4",
         "-f", "lavfi", "-i", "sine=f=500:r=44100:d=4", "-c:v", "libx264", "-preset", "ultrafast",
         "-pix_fmt", "yuv420p", "-c:a", "aac", str(path)]
    )  # fmt: skip
    async with studio.db.session() as session:
        row = await session.get(Scene, second.id)
        row.final_video_path = foreign  # type: ignore[union-attr]
        session.add(row)
    episode = await _assembled_episode(studio, await _episode(studio, project_id, [first, second]))

    assert episode.render_mode == "full"
    assert any("scene 2 is not in the house format" in w for w in episode.assembly_warnings)
    probe = _ffprobe(studio.media.path_of(episode.final_video_path or ""))
    picture, sound, _ = probe["streams"]
    assert (picture["width"], picture["height"], picture["r_frame_rate"]) == (640, 360, "24/1")
    # 3 s + 4 s less 0.5 s: 6.5 s, 156 frames.
    assert int(picture["nb_read_frames"]) == 156
    assert float(sound["duration"]) == pytest.approx(6.5, abs=0.03)


async def test_hard_cuts_copy_every_frame_and_reassembly_replaces_the_files(studio: Studio) -> None:
    project_id, _ = await _project(studio)
    scenes = [await _tone_scene(studio, project_id, name, hz, 2.0, None) for name, hz in (("A", 300), ("B", 600))]
    episode = await _assembled_episode(studio, await _episode(studio, project_id, scenes, transition="cut"))
    assert episode.render_mode == "smart", episode.assembly_warnings
    first_video = studio.media.path_of(episode.final_video_path or "")
    assert int(_ffprobe(first_video)["streams"][0]["nb_read_frames"]) == 96
    assert await studio.episode_assembly.out_of_date(episode.id) == []

    await studio.episodes.set_scenes(episode.id, [EpisodeSceneEntry(scene_id=s.id) for s in reversed(scenes)], "aiko")  # type: ignore[arg-type]
    assert await studio.episode_assembly.out_of_date(episode.id) == [
        "the scenes or their order changed since the episode was assembled"
    ]
    again = await _assembled_episode(studio, episode)
    assert again.final_video_path != episode.final_video_path
    assert not first_video.exists()
    # Now with the default 0.5 s fadeblack between them: 12 frames fewer.
    assert int(_ffprobe(studio.media.path_of(again.final_video_path or ""))["streams"][0]["nb_read_frames"]) == 84
    assert await studio.episode_assembly.out_of_date(episode.id) == []


async def test_an_episode_needs_scenes_that_are_assembled(studio: Studio) -> None:
    project_id, _ = await _project(studio)
    episode = await studio.episodes.create(project_id, EpisodeDraft(title="Empty"), "aiko")
    with pytest.raises(Invalid, match="no scenes yet"):
        await studio.episode_assembly.start(episode.id, "aiko")
    raw = await studio.scenes.create(project_id, SceneDraft(title="Unfinished"), "aiko")
    await studio.episodes.set_scenes(episode.id, [EpisodeSceneEntry(scene_id=raw.id)], "aiko")  # type: ignore[arg-type]
    with pytest.raises(Invalid, match=r"assemble these scenes first .*scene 1 \(Unfinished\)"):
        await studio.episode_assembly.start(episode.id, "aiko")


async def test_sound_encoded_in_stretches_matches_one_encode(tmp_path: Path) -> None:
    """The smart render's sound, encoded in three stretches at once, is as long as one encode of it and as
    close to the real sound, also around the splices."""
    source = tmp_path / "tones.wav"
    await _ffmpeg(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=f=440:r=48000:d=12", "-f", "lavfi", "-i",
         "anoisesrc=c=pink:r=48000:d=12:a=0.1", "-filter_complex", "amix=inputs=2,volume=0.5", "-ac", "2",
         str(source)]
    )  # fmt: skip
    fps = frame_rate(FPS)
    timeline = plan_frames(fps, [(12 * FPS, "cut", 0.0)])
    render = SceneRender(timeline=timeline, clips=(ShotClip(source, True, 12 * FPS),), width=SIZE[0], height=SIZE[1])
    house = house_format(Settings(data_dir=tmp_path / "data"), SIZE[0], SIZE[1], fps)
    spliced, single = tmp_path / "spliced.aac", tmp_path / "single.m4a"
    encoded = await encode_sound(render, house, spliced, tmp_path, stretches=3)
    await _ffmpeg(["ffmpeg", "-v", "error", "-y", "-i", str(source), *house.audio_args(), str(single)])

    def pcm(args: list[str]) -> np.ndarray:
        out = subprocess.run(["ffmpeg", "-v", "error", *args, "-f", "f32le", "-ac", "2", "-"], capture_output=True)
        return np.frombuffer(out.stdout, dtype=np.float32)

    # Muxed as the smart render muxes it: the priming frame shifted before the start (an MP4 edit list).
    muxed = tmp_path / "spliced.m4a"
    await _ffmpeg(["ffmpeg", "-v", "error", "-y", *encoded.input_args(), "-c", "copy", *encoded.output_args(),
                   str(muxed)])  # fmt: skip
    assert float(_ffprobe(muxed)["streams"][0]["duration"]) == 12.0
    ours, theirs, truth = pcm(["-i", str(muxed)]), pcm(["-i", str(single)]), pcm(["-i", str(source)])
    assert abs(len(ours) - len(theirs)) <= 2 * 1024 * 2  # within a frame of padding at the end
    n = min(len(ours), len(theirs), len(truth))

    def error_db(decoded: np.ndarray, window: slice) -> float:
        return float(10 * np.log10(np.mean((decoded[window] - truth[window]) ** 2) + 1e-20))

    for start in range(0, n - 9600, 9600):  # every 0.1 s, the splices at 4 s and 8 s included
        window = slice(start, start + 9600)
        # Quantisation noise of another encode, some 60 dB under the sound; a splice a frame off would be
        # as loud as the sound itself.
        assert error_db(ours, window) <= error_db(theirs, window) + 6, start / 96000
