"""Reading a rendered shot clip: its timing, single frames as PNGs, and the three frames a review looks at.

The last frame is found by seeking a short window before the end and reversing it, so it is the true last
frame whatever the container's rounding (a seek to "duration - 0.1 s" can land one or two frames early).
PNGs are written under a temp name in the target folder and renamed, so a cancelled grab leaves nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import secrets
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from PIL import Image

from services.errors import Invalid, StudioError
from services.media.frames import file_url, probe_video_stream, run_ffmpeg

# The review frames sit this far inside the clip's ends, as the earlier QC did: the very first frame of an
# image-to-video clip is often the source image itself, which would make the review trivially agree.
REVIEW_INSET_SECONDS = 0.1


@dataclass(frozen=True)
class ClipInfo:
    """A video's duration, picture size, frame rate and frame count."""

    seconds: float
    width: int
    height: int
    fps: float
    frames: int


async def probe_clip(video: Path) -> ClipInfo:
    """The clip's timing and size; Invalid("video") when it is missing or not a readable video."""
    info, stream = await probe_video_stream(video)
    fps = _rate(stream.get("avg_frame_rate")) or _rate(stream.get("r_frame_rate"))
    if fps is None:
        raise Invalid("video", f"{video.name} has no frame rate (a still image, or a broken file?)")
    counted = stream.get("nb_frames")
    # mp4 and mov store the frame count; Matroska and WebM do not, so it is estimated from the duration.
    frames = int(counted) if str(counted).isdigit() and int(counted) > 0 else max(1, round(info.duration_seconds * fps))
    return ClipInfo(
        seconds=round(info.duration_seconds, 6), width=info.width, height=info.height, fps=round(fps, 6), frames=frames
    )


async def grab_frame(video: Path, at: float | Literal["first", "last"], out: Path) -> Path:
    """Save one frame of `video` as the PNG `out`: the first frame at or after `at` seconds, or the first or last.

    Invalid("at") for a time outside the clip, Invalid("out") unless out ends in .png, Invalid("video") when
    the video is not readable; StudioError when ffmpeg fails.
    """
    if out.suffix.lower() != ".png":
        raise Invalid("out", f"frames are saved as PNG; name the file {out.stem}.png, not {out.name}")
    return await _grab_at(video, await probe_clip(video), at, out)


async def grab_jpeg(video: Path, at: float, out: Path, quality: int = 88) -> Path:
    """The frame at `at` seconds as a JPEG (posters and thumbnails: media servers want .jpg)."""
    still = out.with_name(f".{out.stem}.{secrets.token_hex(4)}.part.png")
    try:
        await grab_frame(video, at, still)
        await asyncio.to_thread(_to_jpeg, still, out, quality)
    finally:
        await asyncio.to_thread(_remove, still)
    return out


def _to_jpeg(png: Path, jpeg: Path, quality: int) -> None:
    partial = jpeg.with_name(f".{jpeg.name}.part")
    with Image.open(png) as image:
        image.convert("RGB").save(partial, "JPEG", quality=quality, optimize=True)
    os.replace(partial, jpeg)


async def review_frames(video: Path, out_dir: Path) -> list[Path]:
    """The 3 frames a shot review looks at, as PNGs in out_dir: near the start, the middle and near the end.

    "Near" is 0.1 s inside the clip; a clip too short for that gives its first and last frames instead.
    The files are named <video stem>_review_1.png .. _3.png (a second review replaces them).
    """
    clip = await probe_clip(video)
    inset = REVIEW_INSET_SECONDS
    long_enough = clip.seconds >= 4 * inset
    times: list[float | Literal["first", "last"]] = [
        inset if long_enough else "first",
        clip.seconds / 2,
        clip.seconds - inset if long_enough else "last",
    ]
    paths = [out_dir / f"{video.stem}_review_{index}.png" for index in (1, 2, 3)]
    grabs = [asyncio.create_task(_grab_at(video, clip, at, path)) for at, path in zip(times, paths, strict=True)]
    try:
        await asyncio.gather(*grabs)
    except BaseException:
        # One grab failed or the review was cancelled: stop the others (killing their ffmpeg) before raising.
        for grab in grabs:
            grab.cancel()
        await asyncio.gather(*grabs, return_exceptions=True)
        raise
    return paths


async def _grab_at(video: Path, clip: ClipInfo, at: float | Literal["first", "last"], out: Path) -> Path:
    if at == "first":
        return await _grab(video, [], [], out, "its first frame")
    if at == "last":
        return await _grab_last(video, clip, out)
    if isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at):
        raise Invalid("at", f"give a time in seconds, 'first' or 'last', not {at!r}")
    if not 0 <= at <= clip.seconds:
        raise Invalid("at", f"{at:g} s is outside {video.name}, which lasts {clip.seconds:.3f} s")
    if at > clip.seconds - 1 / clip.fps:
        return await _grab_last(video, clip, out)  # inside the last frame, where a seek may find no frame at all
    return await _grab(video, ["-ss", f"{at:.6f}"], [], out, f"the frame at {at:.3f} s")


async def _grab_last(video: Path, clip: ClipInfo, out: Path) -> Path:
    # Decode only the last second (or 3 frames, if longer) and let `reverse` hand out its final frame first.
    window = min(clip.seconds, max(1.0, 3 / clip.fps))
    return await _grab(video, ["-sseof", f"-{window:.6f}"], ["-vf", "reverse"], out, "its last frame")


async def _grab(video: Path, before: list[str], filters: list[str], out: Path, which: str) -> Path:
    await asyncio.to_thread(out.parent.mkdir, parents=True, exist_ok=True)
    partial = out.with_name(f".{out.stem}.{secrets.token_hex(4)}.part.png")
    args = [
        *before,
        "-i", file_url(video),
        "-map", "0:v:0", "-an", "-sn", "-dn",
        *filters,
        "-frames:v", "1",
        "-c:v", "png", "-f", "image2", "-update", "1",
        "-y", file_url(partial),
    ]  # fmt: skip
    try:
        await run_ffmpeg(args, what=f"take {which} from {video.name}", files=(video, partial))
        if not await asyncio.to_thread(_has_content, partial):
            raise StudioError(f"ffmpeg found no picture for {which} in {video.name}; the file may be cut off")
        await asyncio.to_thread(os.replace, partial, out)
    except BaseException:
        await asyncio.shield(asyncio.to_thread(_remove, partial))
        raise
    return out


def _rate(value: Any) -> float | None:
    """A frame rate from ffprobe's "num/den" text; None for "0/0" and other non-rates."""
    try:
        rate = float(Fraction(str(value)))
    except (ValueError, ZeroDivisionError):
        return None
    return rate if math.isfinite(rate) and rate > 0 else None


def _has_content(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
