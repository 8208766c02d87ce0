"""The animatic engine with real ffmpeg: every camera move renders an exact clip, starting on the fitted still."""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

from services.errors import Invalid
from services.media.animatic import CAMERA_KINDS, CameraMove, camera_move_for, render_animatic
from tests.integration.test_frames import ffmpeg_processes_writing_to

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg (apt-get install ffmpeg)")

WIDTH, HEIGHT, FPS, SECONDS = 160, 90, 8.0, 1.5  # 12 frames: each render takes a fraction of a second


def drawing(width: int, height: int, seed: int) -> Image.Image:
    """A flat-shaded picture with dark outlines (like an anime cel), so sharpness and motion are measurable."""
    rng = random.Random(seed)
    picture = Image.new("RGB", (width, height), tuple(rng.randint(150, 255) for _ in range(3)))
    pen = ImageDraw.Draw(picture)
    outline = max(2, width // 160)
    for _ in range(14):
        x, y, size = rng.randint(0, width), rng.randint(0, height), rng.randint(width // 12, width // 4)
        fill = tuple(rng.randint(0, 255) for _ in range(3))
        if rng.random() < 0.5:
            pen.ellipse([x, y, x + size, y + size], fill=fill, outline=(0, 0, 0), width=outline)
        else:
            pen.rectangle([x, y, x + size, y + size * 0.7], fill=fill, outline=(0, 0, 0), width=outline)
    return picture


@pytest.fixture(scope="module")
def stills(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("stills")
    drawing(400, 300, 1).save(folder / "landscape.png")  # 4:3 into 16:9: top and bottom are cropped
    drawing(180, 320, 2).save(folder / "portrait.png")  # 9:16 into 16:9
    (folder / "notes.png").write_text("not a picture\n")
    return {path.stem: path for path in folder.iterdir()}


def ffprobe(video: Path) -> dict[str, object]:
    """What ffprobe itself says about the video stream and the file."""
    out = subprocess.run(
        [
            "ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames",
            "-show_entries", "stream=codec_name,pix_fmt,width,height,r_frame_rate,nb_read_frames:format=duration",
            "-show_streams", "-of", "json", str(video),
        ],
        check=True, capture_output=True, timeout=60,
    ).stdout  # fmt: skip
    described = json.loads(out)
    stream = described["streams"][0]
    return {
        "codec": stream["codec_name"],
        "pix_fmt": stream["pix_fmt"],
        "size": (stream["width"], stream["height"]),
        "rate": stream["r_frame_rate"],
        "frames": int(stream["nb_read_frames"]),
        "seconds": float(described["format"]["duration"]),
        "audio_streams": sum(s["codec_type"] == "audio" for s in described["streams"]),
    }


def frames_of(video: Path, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """Every frame decoded to RGB (frames x height x width x 3)."""
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(video), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True, capture_output=True, timeout=60,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3).astype(np.float32)


def fitted(still: Path, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    with Image.open(still) as picture:
        return np.asarray(ImageOps.fit(picture.convert("RGB"), (width, height), Image.Resampling.LANCZOS), np.float32)


def files_in(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute pixel difference, 0..255."""
    return float(np.abs(a - b).mean())


async def render(still: Path, out: Path, move: CameraMove, **overrides: float) -> Path:
    options = {"seconds": SECONDS, "fps": FPS, "width": WIDTH, "height": HEIGHT, **overrides}
    return await render_animatic(still, out, move=move, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", CAMERA_KINDS)
async def test_every_camera_move_renders_an_exact_clip(stills: dict[str, Path], tmp_path: Path, kind: str) -> None:
    out = await render(stills["landscape"], tmp_path / "shot.mp4", CameraMove(kind))  # type: ignore[arg-type]

    said = ffprobe(out)
    assert said["codec"] == "h264" and said["pix_fmt"] == "yuv420p" and said["audio_streams"] == 0
    assert said["size"] == (WIDTH, HEIGHT)
    assert said["rate"] == "8/1"
    assert said["frames"] == 12
    assert said["seconds"] == pytest.approx(SECONDS, abs=1 / FPS)
    assert files_in(tmp_path) == ["shot.mp4"]  # no temp file left behind

    frames = frames_of(out)
    moved = max(difference(frames[0], frame) for frame in frames[1:])
    if kind == "static":
        assert moved < 2
    else:
        assert moved > 4, "the camera should have moved"


@pytest.mark.parametrize("kind", ["static", "push_in", "pan_right", "pan_left", "tilt_up"])
async def test_the_first_frame_is_the_fitted_still(stills: dict[str, Path], tmp_path: Path, kind: str) -> None:
    out = await render(stills["landscape"], tmp_path / "shot.mp4", CameraMove(kind, 2.0))  # type: ignore[arg-type]

    frames = frames_of(out)
    target = fitted(stills["landscape"])
    assert difference(frames[0], target) < 6
    # the measure can tell: the unfitted (squashed) still, and the moved last frame, are far off
    with Image.open(stills["landscape"]) as picture:
        squashed = np.asarray(picture.convert("RGB").resize((WIDTH, HEIGHT)), np.float32)
    assert difference(squashed, target) > 15
    if kind != "static":
        assert difference(frames[-1], target) > 15


async def test_pull_out_starts_on_the_centre_and_ends_on_the_whole(stills: dict[str, Path], tmp_path: Path) -> None:
    out = await render(stills["landscape"], tmp_path / "shot.mp4", CameraMove("pull_out", 1.0))

    frames = frames_of(out)
    with Image.open(stills["landscape"]) as picture:
        whole = ImageOps.fit(picture.convert("RGB"), (WIDTH * 4, HEIGHT * 4), Image.Resampling.LANCZOS)
    zoom = 1.2  # strength 1
    box = (WIDTH * 4 * (1 - 1 / zoom) / 2, HEIGHT * 4 * (1 - 1 / zoom) / 2)
    centre = whole.crop((round(box[0]), round(box[1]), round(WIDTH * 4 - box[0]), round(HEIGHT * 4 - box[1])))
    centre_pixels = np.asarray(centre.resize((WIDTH, HEIGHT), Image.Resampling.LANCZOS), np.float32)
    assert difference(frames[0], centre_pixels) < 6
    assert difference(frames[-1], fitted(stills["landscape"])) < 6


async def test_a_portrait_still_fills_a_wide_frame(stills: dict[str, Path], tmp_path: Path) -> None:
    out = await render(stills["portrait"], tmp_path / "wide.mp4", CameraMove("push_in"))

    assert ffprobe(out)["size"] == (WIDTH, HEIGHT)
    first = frames_of(out)[0]
    assert difference(first, fitted(stills["portrait"])) < 6
    assert first[:, :4].mean() > 60 and first[:, -4:].mean() > 60  # covered edge to edge: no black bars


async def test_an_ntsc_rate_and_a_larger_frame(stills: dict[str, Path], tmp_path: Path) -> None:
    out = await render(
        stills["landscape"], tmp_path / "ntsc.mp4", CameraMove("pan_left"), fps=23.976, width=320, height=180
    )

    said = ffprobe(out)
    assert said["rate"] == "24000/1001"
    assert said["size"] == (320, 180)
    assert said["frames"] == round(SECONDS * 23.976)
    assert said["seconds"] == pytest.approx(SECONDS, abs=1 / 23.976)


async def test_progress_is_reported_up_to_done(stills: dict[str, Path], tmp_path: Path) -> None:
    reports: list[float] = []

    async def progress(fraction: float, message: str) -> None:
        reports.append(fraction)

    await render_animatic(
        stills["landscape"],
        tmp_path / "shot.mp4",
        seconds=2,
        fps=8,
        width=160,
        height=90,
        move=CameraMove("push_in"),
        progress=progress,
    )

    assert reports and reports[-1] == 1.0
    assert all(0.0 <= fraction <= 1.0 for fraction in reports)


async def test_a_second_render_replaces_the_clip(stills: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "shot.mp4"
    await render(stills["landscape"], out, CameraMove("static"))
    await render(stills["portrait"], out, CameraMove("static"), seconds=1.0)

    assert ffprobe(out)["frames"] == 8
    assert files_in(tmp_path) == ["shot.mp4"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"seconds": 0.2}, "seconds"),
        ({"seconds": 61}, "seconds"),
        ({"seconds": float("nan")}, "seconds"),
        ({"fps": 0.5}, "fps"),
        ({"fps": 120}, "fps"),
        ({"width": 161}, "width"),
        ({"width": 4000}, "width"),
        ({"height": 32}, "height"),
        ({"height": 91}, "height"),
    ],
)
async def test_numbers_out_of_range_are_invalid(
    stills: dict[str, Path], tmp_path: Path, overrides: dict[str, float], field: str
) -> None:
    with pytest.raises(Invalid) as caught:
        await render(stills["landscape"], tmp_path / "shot.mp4", CameraMove("static"), **overrides)

    assert caught.value.field == field
    assert files_in(tmp_path) == []


async def test_odd_sizes_name_the_even_neighbours(stills: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(Invalid, match="use 160 or 162"):
        await render(stills["landscape"], tmp_path / "shot.mp4", CameraMove("static"), width=161)


async def test_a_bad_source_or_target_is_invalid(stills: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(Invalid) as missing:
        await render(tmp_path / "nowhere.png", tmp_path / "shot.mp4", CameraMove("static"))
    with pytest.raises(Invalid) as unreadable:
        await render(stills["notes"], tmp_path / "shot.mp4", CameraMove("static"))
    with pytest.raises(Invalid) as not_mp4:
        await render(stills["landscape"], tmp_path / "shot.mov", CameraMove("static"))

    assert (missing.value.field, unreadable.value.field, not_mp4.value.field) == ("source", "source", "out")
    assert "nowhere.png does not exist" in missing.value.message
    assert "notes.png is not a readable image" in unreadable.value.message
    assert files_in(tmp_path) == []


def test_a_camera_move_checks_itself() -> None:
    with pytest.raises(Invalid) as kind:
        CameraMove("dolly_zoom")  # type: ignore[arg-type]
    with pytest.raises(Invalid) as strength:
        CameraMove("push_in", 5.0)

    assert (kind.value.field, strength.value.field) == ("move.kind", "move.strength")


async def test_cancelling_kills_ffmpeg_and_leaves_no_file(stills: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "cancelled"
    started = asyncio.Event()

    async def progress(fraction: float, message: str) -> None:
        started.set()

    # a minute of 1280x720 at 30 fps takes far longer than the wait for its first progress report
    task = asyncio.create_task(
        render_animatic(
            stills["landscape"],
            folder / "long.mp4",
            seconds=60,
            fps=30,
            width=1280,
            height=720,
            move=CameraMove("push_in"),
            progress=progress,
        )
    )
    await asyncio.wait_for(started.wait(), 60)
    assert ffmpeg_processes_writing_to(folder), "ffmpeg should be running"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert not ffmpeg_processes_writing_to(folder)
    assert files_in(folder) == []


# --- choosing the move ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "shot_type", "kind", "strength"),
    [
        ("slow zoom in towards the location", "establishing", "push_in", 0.6),
        ("camera pushes in as she throws a punch", "action", "push_in", 1.0),
        ("dolly in on the hero", "medium", "push_in", 1.0),
        ("zoom out to reveal the city", "close-up", "pull_out", 1.0),
        ("the camera pulls back from the door", "medium", "pull_out", 1.0),
        ("pan left across the harbour", "wide", "pan_left", 1.0),
        ("quick pan to the right", "wide", "pan_right", 1.5),
        ("slow pan across the landscape, clouds drifting", "establishing", "pan_right", 0.6),
        ("tilt up to the tower", "establishing", "tilt_up", 1.0),
        ("camera tilts down to her shoes", "medium", "tilt_down", 1.0),
        ("character throws a punch, then a kick", "action", "shake", 1.0),
        ("explosion behind the car", "action", "shake", 1.0),
        ("the ground shakes", "wide", "shake", 1.0),
        ("character sprints towards the camera", "action", "push_in", 1.0),
        ("subtle breathing, gentle idle motion", "close-up", "push_in", 0.5),
        ("character blinks and smiles", "close-up", "push_in", 0.5),
        ("she stands still in the rain", "medium", "push_in", 0.5),
        ("aerial drift over the scene", "establishing", "pan_right", 0.6),
        ("wind moves the grass", "wide", "pan_right", 0.6),
        ("character gestures while talking", "medium", "push_in", 0.7),
        ("eyes widen in surprise", "close-up", "push_in", 0.5),
        ("a tear runs down the cheek", "extreme_close-up", "push_in", 0.5),
        ("character powers up, energy swirling around", "action", "push_in", 1.6),
        ("", "something new", "push_in", 0.7),
        ("panicked crowd runs", "wide", "pan_right", 0.6),  # "panicked" is not a pan: the shot type decides
    ],
)
def test_the_camera_move_follows_the_prompt_then_the_shot_type(
    prompt: str, shot_type: str, kind: str, strength: float
) -> None:
    assert camera_move_for(prompt, shot_type) == CameraMove(kind, strength)  # type: ignore[arg-type]
