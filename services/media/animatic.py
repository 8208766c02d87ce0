"""The animatic video engine: a camera move over one still image, rendered by ffmpeg on any machine.

The still is decoded and fitted to the frame with Pillow (EXIF orientation applied, transparency on white,
scaled to cover and centre-cropped, so any aspect ratio works), at 2-4x the output size. ffmpeg's `zoompan`
then moves a window over that picture and scales it to the output size. Zoompan places its window on whole
pixels; on a picture the size of the output that makes slow zooms visibly jitter, on one 4x larger the steps
are a quarter pixel and vanish. The fitted picture travels to ffmpeg through a pipe, so nothing but the
finished clip is ever written, and that only inside `out`'s folder, under a temp name renamed at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import secrets
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal, get_args

import numpy as np
from PIL import Image, ImageOps

from services.errors import Invalid
from services.imaging import UNREADABLE, unreadable_image
from services.media.frames import ProgressCallback, file_url, run_ffmpeg

CameraKind = Literal["static", "push_in", "pull_out", "pan_left", "pan_right", "tilt_up", "tilt_down", "shake"]
CAMERA_KINDS: tuple[str, ...] = get_args(CameraKind)

MIN_SECONDS, MAX_SECONDS = 0.5, 60.0
MIN_FPS, MAX_FPS = 1.0, 60.0
MIN_SIDE, MAX_SIDE = 64, 3840
MIN_STRENGTH, MAX_STRENGTH = 0.25, 3.0

# How far each move travels at strength 1 (zoom factor reached at the end of the clip). Push/pull: 1.2 is a
# clear dolly without softening a 2x-oversampled picture; pans and tilts zoom a little more, because the zoom
# is what opens room to travel sideways; a shake needs only a small margin to wobble inside.
_PUSH_ZOOM = 0.20
_PAN_ZOOM = 0.25
_SHAKE_ZOOM = 0.05
# The internal picture is the output size times this factor (2-4), capped at this many pixels on its longer
# side: 1280x720 renders at 4x (5120x2880), 1920x1080 at 2x, 3840x2160 at 1x (jitter is then 1/3840 of the width).
_MAX_OVERSAMPLE = 4
_MAX_INTERNAL_SIDE = 5120


@dataclass(frozen=True)
class CameraMove:
    """A camera move over the still; `strength` scales how far it travels (0.5 subtle .. 2 strong)."""

    kind: CameraKind
    strength: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in CAMERA_KINDS:
            raise Invalid("move.kind", f"{self.kind!r} is no camera move; use one of {', '.join(CAMERA_KINDS)}")
        if not (math.isfinite(self.strength) and MIN_STRENGTH <= self.strength <= MAX_STRENGTH):
            raise Invalid(
                "move.strength", f"must be between {MIN_STRENGTH:g} and {MAX_STRENGTH:g}, not {self.strength}"
            )


# --- choosing a move from the shot -------------------------------------------------------------------------

# Words in the motion prompt, checked in this order: an explicit camera move beats an action word ("camera
# pushes in as she punches" is a push in), and both beat the idle words that only ask for a little life.
_KEYWORDS: tuple[tuple[str, CameraKind, float], ...] = (
    (r"(?:zoom|push|dolly|move|moves|moving)(?:es|s|ing)? in\b", "push_in", 1.0),
    (r"(?:zoom|dolly)(?:es|s|ing)? out\b|pull(?:s|ing)? (?:back|out)\b", "pull_out", 1.0),
    (r"pan(?:s|ning)? (?:to (?:the )?)?left\b", "pan_left", 1.0),
    (r"pan(?:s|ning)? (?:to (?:the )?)?right\b|pan(?:s|ning)?\b", "pan_right", 1.0),
    (r"tilt(?:s|ing)? up\b", "tilt_up", 1.0),
    (r"tilt(?:s|ing)? down\b", "tilt_down", 1.0),
    (r"shak(?:e|es|ing)\b|impact|punch|explo(?:sions?|des?|ding)\b", "shake", 1.0),
    (r"forwards?\b|towards? the (?:camera|viewer)", "push_in", 1.0),
    (r"static\b|still\b|breath|blink", "push_in", 0.5),
)
_KEYWORD_PATTERNS = tuple((re.compile(rf"\b(?:{words})", re.IGNORECASE), kind, s) for words, kind, s in _KEYWORDS)
_SLOW = re.compile(r"\b(?:slow|slowly|gentle|gently|subtle|subtly|soft|softly)\b", re.IGNORECASE)
_FAST = re.compile(r"\b(?:fast|quick|quickly|rapid|rapidly|sudden|suddenly|dramatic|dramatically)\b", re.IGNORECASE)


def camera_move_for(motion_prompt: str, shot_type: str) -> CameraMove:
    """The camera move that fits a shot: keywords in its motion prompt first, else its shot type."""
    prompt = motion_prompt or ""
    for pattern, kind, strength in _KEYWORD_PATTERNS:
        if pattern.search(prompt):
            # "slow"/"gentle" and "fast"/"dramatic" temper or boost the move the prompt names.
            if _SLOW.search(prompt):
                strength *= 0.6
            elif _FAST.search(prompt):
                strength *= 1.5
            return CameraMove(kind, round(min(max(strength, 0.5), 2.0), 2))
    shot = re.sub(r"[\s_-]+", "", (shot_type or "").lower())
    if "establish" in shot or "wide" in shot or "aerial" in shot:
        return CameraMove("pan_right", 0.6)  # a slow look across the place
    if "close" in shot:
        return CameraMove("push_in", 0.5)  # close-up and extreme close-up: a slow push towards the face
    if "action" in shot:
        return CameraMove("push_in", 1.6)
    return CameraMove("push_in", 0.7)  # medium and anything unknown: a gentle push in


# --- rendering ---------------------------------------------------------------------------------------------


async def render_animatic(
    source: Path,
    out: Path,
    *,
    seconds: float,
    fps: float,
    width: int,
    height: int,
    move: CameraMove,
    progress: ProgressCallback | None = None,
) -> Path:
    """Render `move` over the still `source` into the H.264 mp4 `out` (round(seconds x fps) frames); returns out.

    "The fitted source" is `source` scaled to cover width x height and centre-cropped. The first frame is:
    static, push_in, pan_left/right, tilt_up/down — the fitted source itself (the pans and tilts start wide and
    travel while they narrow); pull_out — the centre of the fitted source enlarged by 1 + 0.2 x strength, which
    the clip then widens to the whole; shake — its centre enlarged by 1 + 0.05 x strength, which then wobbles.
    Invalid names the field (seconds, fps, width, height, source, out) for bad input; StudioError with
    ffmpeg's last lines when ffmpeg fails. A cancelled render kills ffmpeg and leaves no file.
    """
    _check_numbers(seconds, fps, width, height)
    if out.suffix.lower() != ".mp4":
        raise Invalid("out", f"the animatic is an mp4 file; name it {out.stem}.mp4, not {out.name}")
    frames = max(1, round(seconds * fps))
    scale = max(1, min(_MAX_OVERSAMPLE, _MAX_INTERNAL_SIDE // max(width, height)))
    picture = await asyncio.to_thread(_fitted_pixels, source, width * scale, height * scale)
    await asyncio.to_thread(out.parent.mkdir, parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.{secrets.token_hex(4)}.part")
    rate = _rate(fps)
    args = [
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width * scale}x{height * scale}", "-framerate", rate,
        "-i", "pipe:0",
        "-vf", f"{zoompan_filter(move, frames, width, height, rate)},setsar=1,format=yuv420p",
        "-frames:v", str(frames),
        "-an", "-sn", "-dn",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
        "-movflags", "+faststart",
        "-f", "mp4", "-y", file_url(partial),
    ]  # fmt: skip
    try:
        await run_ffmpeg(
            args,
            what=f"render the animatic {out.name} from {source.name}",
            seconds=frames / fps,
            progress=progress,
            stdin=picture,
            files=(partial, source),
        )
        await asyncio.to_thread(os.replace, partial, out)
    except BaseException:
        await asyncio.shield(asyncio.to_thread(_remove, partial))
        raise
    return out


def zoompan_filter(move: CameraMove, frames: int, width: int, height: int, rate: str) -> str:
    """The ffmpeg zoompan filter that moves the camera over `frames` output frames of width x height."""
    # p runs 0 -> 1 over the clip, eased (smoothstep) so the camera starts and stops without a jolt.
    eased = f"st(0,on/{max(frames - 1, 1)});st(0,ld(0)*ld(0)*(3-2*ld(0)))"
    kind, strength = move.kind, move.strength
    # The window's top-left corner within the room the zoom leaves: centred, or against one edge.
    centre_x, centre_y = "(iw-iw/zoom)/2", "(ih-ih/zoom)/2"
    if kind == "static":
        zoom, x, y = "1", "0", "0"
    elif kind in ("push_in", "pull_out"):
        end = 1 + _PUSH_ZOOM * strength
        zoom = f"{eased};1+{end - 1:.6f}*ld(0)" if kind == "push_in" else f"{eased};{end:.6f}-{end - 1:.6f}*ld(0)"
        x, y = centre_x, centre_y
    elif kind == "shake":
        zoom = f"{1 + _SHAKE_ZOOM * strength:.6f}"
        # Two incommensurate sines per axis, zero at the first frame, dying down to a third over the clip.
        decay = f"(1-0.66*on/{max(frames - 1, 1)})"
        x = f"(iw-iw/zoom)/2*(1+0.9*{decay}*(0.6*sin(2.1*on)+0.4*sin(5.3*on)))"
        y = f"(ih-ih/zoom)/2*(1+0.9*{decay}*(0.6*sin(1.7*on)+0.4*sin(4.1*on)))"
    else:
        # Pans and tilts start on the whole picture and narrow towards one edge, which stays put: every
        # point moves away from that edge, as when the camera turns towards it.
        zoom = f"{eased};1+{_PAN_ZOOM * strength:.6f}*ld(0)"
        x = {"pan_left": "0", "pan_right": "iw-iw/zoom"}.get(kind, centre_x)
        y = {"tilt_up": "0", "tilt_down": "ih-ih/zoom"}.get(kind, centre_y)
    return f"zoompan=z='{zoom}':x='{x}':y='{y}':d={frames}:s={width}x{height}:fps={rate}"


def _check_numbers(seconds: float, fps: float, width: int, height: int) -> None:
    if not (math.isfinite(seconds) and MIN_SECONDS <= seconds <= MAX_SECONDS):
        raise Invalid("seconds", f"must be between {MIN_SECONDS:g} and {MAX_SECONDS:g} seconds, not {seconds}")
    if not (math.isfinite(fps) and MIN_FPS <= fps <= MAX_FPS):
        raise Invalid("fps", f"must be between {MIN_FPS:g} and {MAX_FPS:g} frames per second, not {fps}")
    for field, side in (("width", width), ("height", height)):
        if isinstance(side, bool) or not isinstance(side, int) or not MIN_SIDE <= side <= MAX_SIDE:
            raise Invalid(field, f"must be a whole number of pixels from {MIN_SIDE} to {MAX_SIDE}, not {side}")
        if side % 2:
            # H.264 in yuv420p stores colour per 2x2 block; players refuse odd sizes.
            raise Invalid(field, f"must be even for H.264 video; use {side - 1} or {side + 1}, not {side}")


def _rate(fps: float) -> str:
    # NTSC rates (23.976, 29.97, 59.94) as the exact n*1000/1001 players expect, others as the nearest simple
    # fraction (whole rates as themselves).
    ntsc = Fraction(round(fps * 1.001) * 1000, 1001)
    fraction = ntsc if abs(float(ntsc) - fps) < 0.002 else Fraction(fps).limit_denominator(1000)
    return str(fraction.numerator) if fraction.denominator == 1 else f"{fraction.numerator}/{fraction.denominator}"


def _fitted_pixels(source: Path, width: int, height: int) -> bytes:
    """The source fitted to width x height (cover + centre crop) as raw RGB bytes."""
    if not source.is_file():
        raise Invalid("source", f"{source.name} does not exist")
    try:
        with Image.open(source) as opened:
            image = ImageOps.exif_transpose(opened)  # as people see it, not as the camera stored it
            image.load()
    except (*UNREADABLE, Image.DecompressionBombError) as exc:
        raise Invalid("source", f"{source.name} is {unreadable_image(exc)}") from exc
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit: keep the top 8 bits, as a viewer shows them
        image = Image.fromarray((np.asarray(image, dtype=np.uint32) >> 8).clip(0, 255).astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Transparent areas become white, the backdrop character sheets are drawn on, not black.
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    fitted = ImageOps.fit(image.convert("RGB"), (width, height), Image.Resampling.LANCZOS)
    return fitted.tobytes()


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
