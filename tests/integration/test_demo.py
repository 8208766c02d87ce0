"""The sample production end to end on the embedded defaults (real ffmpeg, Piper, espeak-ng, the animatic
engine, the temp music bed and the folder library), through the service and as `python -m studio demo`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from services.bible.schemas import ProjectDraft
from services.demo import EPISODE_TITLE, SAMPLE_SEED, SERIES
from services.demo.sample import PENDING_PER_CHARACTER, SAMPLE_STYLE
from studio.config import DeviceSettings, Settings
from studio.models import ApprovalState, DatasetImage
from studio.root import Studio
from tests.fakes import FakeComfyUI
from tests.studio_process import REPO

SECONDS_PER_SHOT = (3.5, 3.0, 3.0, 3.0)


@pytest.fixture
async def studio(tmp_path: Path, database_url: str) -> AsyncIterator[Studio]:
    """A started studio on SQLite, then on PostgreSQL: the whole pipeline runs on both databases."""
    studio = Studio.build(Settings(data_dir=tmp_path / "data", database_url=database_url, job_claim_poll_seconds=0.2))
    studio.migrate()
    await studio.start()
    try:
        yield studio
    finally:
        await studio.stop()


def _ffprobe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format", str(path)],
        check=True,
        capture_output=True,
    ).stdout
    return json.loads(out)


def _mean_volume(path: Path) -> float:
    run = subprocess.run(
        ["ffmpeg", "-hide_banner", "-i", str(path), "-vn", "-af", "volumedetect", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(re.search(r"mean_volume: (-?[\d.]+) dB", run.stderr).group(1))  # type: ignore[union-attr]


def _check_playable_episode(path: Path, seconds: float) -> None:
    """An H.264 + AAC MP4 of the sample's size and length whose sound is not silence."""
    probe = _ffprobe(path)
    video = next(s for s in probe["streams"] if s["codec_type"] == "video")
    audio = [s for s in probe["streams"] if s["codec_type"] == "audio"]
    assert (video["codec_name"], video["width"], video["height"]) == ("h264", 640, 360)
    assert [s["codec_name"] for s in audio] == ["aac"]
    assert float(probe["format"]["duration"]) == pytest.approx(seconds, abs=0.6)
    assert _mean_volume(path) > -40, "the episode's sound is (nearly) silent: no voices or music"


def _published_files(root: Path, series: str, year: int) -> tuple[Path, Path]:
    """(series folder, episode video) in the Jellyfin TV layout the folder library writes."""
    folder = root / f"{series} ({year})"
    return folder, folder / "Season 01" / f"{series} S01E01 - {EPISODE_TITLE}.mp4"


# On PostgreSQL: `python -m studio demo` (below) makes the same production on SQLite.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_the_sample_production_makes_and_publishes_episode_1(studio: Studio) -> None:
    # A studio that already has a "Harbor Lights" (archived projects keep their names): a new sample is made.
    earlier = await studio.projects.create(ProjectDraft(name=SERIES), "aiko")
    await studio.projects.archive(earlier.id, "aiko")  # type: ignore[arg-type]
    steps: list[tuple[float, str]] = []

    async def progress(fraction: float, message: str) -> None:
        steps.append((fraction, message))

    result = await studio.demo.produce("aiko", progress)

    fractions = [f for f, _ in steps]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    said = " | ".join(m for _, m in steps)
    for step in ("Rendering the shots", "Assembling the scene", "Assembling episode 1", "Publishing"):
        assert step in said

    assert result.keyframes == "drawn: no ComfyUI device is connected"
    assert "Drawing the four keyframes and approving them (no ComfyUI device is connected)" in said
    project = await studio.projects.get(result.project_id)
    assert project.name == f"{SERIES} 2" == result.project_name
    assert (project.frame_width, project.frame_height, project.frame_rate) == (640, 360, 24.0)
    cards = await studio.characters.cards(result.project_id)
    cast = {card.character.name: card.character for card in cards}
    assert sorted(cast) == ["Jun", "Mira"]
    for character in cast.values():
        assert len(await studio.characters.references(character.id)) == 1  # type: ignore[arg-type]
    assert studio.voices.profile_of(cast["Mira"]).engine == "espeak"
    assert studio.voices.profile_of(cast["Jun"]).engine == "piper"

    [summary] = await studio.scenes.list(result.project_id)
    assert summary.scene.id == result.scene_id and summary.shots == 4
    shots = await studio.scenes.shots(result.scene_id)
    async with studio.db.session() as session:
        images = {i.id: i for i in await session.exec(select(DatasetImage))}
    for shot, seconds in zip(shots, SECONDS_PER_SHOT, strict=True):
        assert shot.status == "completed" and shot.video_engine == "animatic"
        assert shot.seed == SAMPLE_SEED  # beyond 2^31: stored in full on both databases
        assert shot.duration_seconds == seconds
        assert shot.dialogue_text and shot.dialogue_character_id in shot.characters_present
        source = images[shot.source_image_id]
        assert source.approval_state == ApprovalState.APPROVED and source.duplicate_of_id is None
        assert source.character_id in shot.characters_present
        assert studio.media.path_of(shot.output_video_path or "").is_file()
    assert len({shot.source_image_id for shot in shots}) == 4

    scene = await studio.scenes.get(result.scene_id)
    assert scene.final_video_path and scene.assembly_warnings == []
    scene_seconds = sum(SECONDS_PER_SHOT) - 3 * 0.4  # four shots, three 0.4 s dissolves
    _check_playable_episode(studio.media.path_of(scene.final_video_path), scene_seconds)

    episode = await studio.episodes.get(result.episode_id)
    assert (episode.episode_number, episode.title, episode.status) == (1, EPISODE_TITLE, "published")
    _check_playable_episode(studio.media.path_of(episode.final_video_path or ""), scene_seconds)

    library = studio.settings.folder_library_dir
    assert result.library_root == library
    series, video = _published_files(library, f"{SERIES} 2", project.created_at.year)
    assert result.episode_file == video
    _check_playable_episode(video, scene_seconds)
    stem = video.with_suffix("")
    for beside in (f"{stem.name}.nfo", f"{stem.name}.en.srt", f"{stem.name}-thumb.jpg"):
        assert (video.parent / beside).is_file(), beside
    assert "Then we made it, just in time." in (video.parent / f"{stem.name}.en.srt").read_text()
    assert (series / "tvshow.nfo").is_file()
    assert sorted(p.name for p in (series / ".actors").iterdir()) == ["Jun.jpg", "Mira.jpg"]
    assert episode.publication and episode.publication["verified"] is True

    # The rest of the studio has something to show: the prompt preview a style, the review station pending
    # pictures of each character, the music page a kept track.
    assert project.default_style == SAMPLE_STYLE.name
    assert (await studio.styles.get(SAMPLE_STYLE.name)).checkpoint_model == SAMPLE_STYLE.checkpoint_model
    pending = [i for i in images.values() if i.approval_state == ApprovalState.PENDING]
    assert sorted(cast[name].id for name in ("Mira", "Jun") for _ in range(PENDING_PER_CHARACTER)) == sorted(
        i.character_id for i in pending
    )
    [track] = await studio.music.list(result.project_id)
    assert (track.source, track.mood, track.status) == ("temp_bed", "peaceful", "ready")
    assert (await studio.music.audio_path(track.id)).is_file()  # type: ignore[arg-type]


def _studio_cli(data_dir: Path, path: str | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("STUDIO_")}
    env = {**base, "STUDIO_DATA_DIR": str(data_dir), **({"PATH": path} if path is not None else {})}
    return subprocess.run(
        [sys.executable, "-m", "studio", "demo"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_python_m_studio_demo_publishes_episode_1_on_a_fresh_studio(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    done = _studio_cli(data_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    # Progress throughout: percentages that only go up, then where the episode went.
    percents = [int(m.group(1)) for line in lines if (m := re.search(r"\s(\d+)%\]", line))]
    assert len(percents) >= 8 and percents == sorted(percents) and percents[-1] == 100
    year = next(int(m.group(1)) for line in lines if (m := re.search(rf"{SERIES} \((\d{{4}})\)", line)))
    _series, video = _published_files(data_dir / "library", SERIES, year)
    assert str(video) in done.stdout
    assert re.search(r"^Done in \d+ s: project 'Harbor Lights'", done.stdout, re.MULTILINE)
    assert "/episodes?project=1&episode=" in done.stdout
    _check_playable_episode(video, sum(SECONDS_PER_SHOT) - 3 * 0.4)
    # A second sample beside an existing one is the in-process test's ("Harbor Lights 2"): not run twice here.


def test_python_m_studio_demo_without_ffmpeg_fails_with_the_reason(tmp_path: Path) -> None:
    # An empty PATH: no ffmpeg, no espeak-ng (the interpreter is named by its full path).
    done = _studio_cli(tmp_path / "data", path=str(tmp_path / "empty-bin"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "error: the sample production failed" in done.stderr
    assert "ffmpeg" in done.stderr
    assert "Traceback" not in done.stderr


class _Enough(Exception):
    """Raised by a test's progress callback once the keyframes are made: the rest is the test above."""


async def _keyframes_made(studio: Studio) -> list[str]:
    said: list[str] = []

    async def progress(_fraction: float, message: str) -> None:
        said.append(message)
        if message.startswith("Writing scene 1"):
            raise _Enough

    with pytest.raises(_Enough):
        await studio.demo.produce("aiko", progress)
    return said


# Each case on one database (the generated pictures on the stricter PostgreSQL, the drawn ones on SQLite): the
# branch is the device's, not the database's.
@pytest.mark.parametrize(
    ("has_checkpoint", "database_url"),
    [(True, "postgresql"), (False, "sqlite")],
    ids=["ready", "no-checkpoint"],
    indirect=["database_url"],
)
async def test_the_sample_generates_its_pictures_on_a_ready_comfyui_device_else_draws_them(
    tmp_path: Path, database_url: str, has_checkpoint: bool
) -> None:
    with FakeComfyUI(job_seconds=0.01) as fake:
        if has_checkpoint:
            fake.models["checkpoints"].append(SAMPLE_STYLE.checkpoint_model)
        devices = [DeviceSettings(name="gpu1", comfyui_url=fake.url)]
        settings = Settings(data_dir=tmp_path / "data", database_url=database_url, devices=devices)
        studio = Studio.build(settings.model_copy(update={"job_claim_poll_seconds": 0.2}))
        studio.migrate()
        await studio.start()
        try:
            said = " | ".join(await _keyframes_made(studio))
            async with studio.db.session() as session:
                images = list(await session.exec(select(DatasetImage)))
        finally:
            await studio.stop()
    approved = [i for i in images if i.approval_state == ApprovalState.APPROVED]
    pending = [i for i in images if i.approval_state == ApprovalState.PENDING]
    assert (len(approved), len(pending)) == (4, 2 * PENDING_PER_CHARACTER)
    if has_checkpoint:
        assert "Generating the four keyframes and 2 pictures of each character on gpu1" in said
        assert all(i.provenance["device"] == "gpu1" for i in approved + pending)
        assert {i.provenance["style"] for i in approved} == {SAMPLE_STYLE.name}
    else:
        assert "Drawing the four keyframes and approving them (no ComfyUI device is ready for text-to-image" in said
        assert all(i.provenance["drawn_by"] == "services.demo.drawing" for i in approved + pending)
