"""Reading rendered clips with real ffmpeg: timing, the first, middle and true last frame, review frames."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from services.errors import Invalid, StudioError
from services.media.clips import grab_frame, probe_clip, review_frames
from services.media.frames import file_url, run_ffmpeg

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg (apt-get install ffmpeg)")

SMALL = "s=160x90:r=8"
RED, BLUE = (255, 0, 0), (0, 0, 255)


def make_video(path: Path, *sources: str, codec: str = "libx264") -> Path:
    """Concatenate lavfi sources (each with its own duration) into one video."""
    args = ["ffmpeg", "-v", "error", "-y"]
    for source in sources:
        args += ["-f", "lavfi", "-i", source]
    graph = "".join(f"[{i}:v]" for i in range(len(sources))) + f"concat=n={len(sources)}:v=1:a=0[v]"
    args += ["-filter_complex", graph, "-map", "[v]", "-c:v", codec, "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(args, check=True, timeout=60)
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    # 1 s red, 1 s moving test pattern, then ONE blue frame: 17 frames, 2.125 s. Only the true last frame is
    # blue, so a "last frame" that is one frame early shows the test pattern.
    parts = (f"color=c=red:{SMALL}:d=1", f"testsrc={SMALL}:d=1", f"color=c=blue:{SMALL}:d=0.125")
    (folder / "notes.mp4").write_text("these are meeting notes, not a video\n")
    (folder / "garbage.mp4").write_bytes(os.urandom(4096))
    return {
        "shot": make_video(folder / "shot.mp4", *parts),
        "matroska": make_video(folder / "shot.mkv", *parts),  # Matroska stores no frame count
        "short": make_video(folder / "short.mp4", f"color=c=red:{SMALL}:d=0.125", f"color=c=blue:{SMALL}:d=0.125"),
        "notes": folder / "notes.mp4",
        "garbage": folder / "garbage.mp4",
    }


def colour_of(png: Path) -> tuple[float, float, float]:
    with Image.open(png) as picture:
        assert picture.format == "PNG" and picture.size == (160, 90)
        r, g, b = np.asarray(picture.convert("RGB"), np.float32).reshape(-1, 3).mean(axis=0)
    return float(r), float(g), float(b)


def is_colour(png: Path, colour: tuple[int, int, int]) -> bool:
    return all(abs(seen - wanted) < 20 for seen, wanted in zip(colour_of(png), colour, strict=True))


def files_in(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


async def test_probe_gives_timing_and_size(videos: dict[str, Path]) -> None:
    clip = await probe_clip(videos["shot"])

    assert clip.seconds == pytest.approx(2.125, abs=0.01)
    assert (clip.width, clip.height, clip.fps, clip.frames) == (160, 90, 8.0, 17)


async def test_the_frame_count_is_estimated_when_the_container_has_none(videos: dict[str, Path]) -> None:
    clip = await probe_clip(videos["matroska"])

    assert (clip.fps, clip.frames) == (8.0, 17)


@pytest.mark.parametrize("name", ["shot", "matroska"])
async def test_first_middle_and_true_last_frames(videos: dict[str, Path], tmp_path: Path, name: str) -> None:
    video = videos[name]
    first = await grab_frame(video, "first", tmp_path / "first.png")
    at_zero = await grab_frame(video, 0.0, tmp_path / "zero.png")
    middle = await grab_frame(video, 1.5, tmp_path / "middle.png")
    one_before = await grab_frame(video, 1.875, tmp_path / "one_before.png")  # the 16th of 17 frames
    last = await grab_frame(video, "last", tmp_path / "last.png")
    inside_last = await grab_frame(video, 2.1, tmp_path / "inside_last.png")  # within the last frame's 1/8 s

    assert is_colour(first, RED) and is_colour(at_zero, RED)
    assert not is_colour(middle, RED) and not is_colour(middle, BLUE)  # the test pattern
    assert not is_colour(one_before, BLUE)
    assert is_colour(last, BLUE) and is_colour(inside_last, BLUE)
    assert files_in(tmp_path) == [
        "first.png",
        "inside_last.png",
        "last.png",
        "middle.png",
        "one_before.png",
        "zero.png",
    ]


async def test_a_second_grab_replaces_the_file(videos: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "frame.png"
    await grab_frame(videos["shot"], "last", out)
    await grab_frame(videos["shot"], "first", out)

    assert is_colour(out, RED)
    assert files_in(tmp_path) == ["frame.png"]


async def test_review_frames_are_near_the_start_the_middle_and_near_the_end(
    videos: dict[str, Path], tmp_path: Path
) -> None:
    frames = await review_frames(videos["shot"], tmp_path / "review")

    assert [path.name for path in frames] == ["shot_review_1.png", "shot_review_2.png", "shot_review_3.png"]
    assert files_in(tmp_path / "review") == [path.name for path in frames]
    start, middle, end = frames
    assert is_colour(start, RED)  # 0.1 s
    assert not is_colour(middle, RED) and not is_colour(middle, BLUE)  # 1.06 s: the test pattern
    assert is_colour(end, BLUE)  # 2.025 s: inside the last frame


async def test_a_very_short_clip_reviews_its_first_and_last_frames(videos: dict[str, Path], tmp_path: Path) -> None:
    start, _, end = await review_frames(videos["short"], tmp_path)

    assert is_colour(start, RED) and is_colour(end, BLUE)


@pytest.mark.parametrize("name", ["notes", "garbage"])
async def test_a_file_that_is_not_a_video_is_invalid(videos: dict[str, Path], tmp_path: Path, name: str) -> None:
    with pytest.raises(Invalid) as probed:
        await probe_clip(videos[name])
    with pytest.raises(Invalid) as grabbed:
        await grab_frame(videos[name], "last", tmp_path / "frame.png")
    with pytest.raises(Invalid) as reviewed:
        await review_frames(videos[name], tmp_path)

    assert probed.value.field == grabbed.value.field == reviewed.value.field == "video"
    assert f"{name}.mp4 is not a readable video" in probed.value.message
    assert files_in(tmp_path) == []


async def test_a_missing_video_is_invalid(tmp_path: Path) -> None:
    with pytest.raises(Invalid, match=r"nowhere\.mp4 does not exist") as caught:
        await probe_clip(tmp_path / "nowhere.mp4")
    assert caught.value.field == "video"


@pytest.mark.parametrize(("at", "says"), [(-0.5, "outside shot.mp4"), (3.0, "outside shot.mp4"), ("middle", "give")])
async def test_a_time_outside_the_clip_is_invalid(
    videos: dict[str, Path], tmp_path: Path, at: float | str, says: str
) -> None:
    with pytest.raises(Invalid, match=says) as caught:
        await grab_frame(videos["shot"], at, tmp_path / "frame.png")  # type: ignore[arg-type]
    assert caught.value.field == "at"
    assert files_in(tmp_path) == []


async def test_frames_are_pngs(videos: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(Invalid) as caught:
        await grab_frame(videos["shot"], "first", tmp_path / "frame.jpg")
    assert caught.value.field == "out"


async def test_a_failing_ffmpeg_says_what_failed_by_file_name(videos: dict[str, Path]) -> None:
    notes = videos["notes"]

    with pytest.raises(StudioError) as caught:
        await run_ffmpeg(["-i", file_url(notes), "-f", "null", "-"], what=f"read {notes.name}", files=(notes,))

    message = str(caught.value)
    assert message.startswith("ffmpeg could not read notes.mp4: ") and "notes.mp4" in message[35:]
    assert str(notes.parent) not in message
