"""Fake ComfyUI, the file side: what a graph's output nodes write, as real files in the fake's output dir.

Images are Pillow PNGs whose content derives from the seed only (same seed → identical bytes; different
seeds → different colours and pattern). Videos are small real files made by the system `ffmpeg`.
File naming follows the real savers: core `<prefix>_<00001>_.<ext>` (the counter continues after the
highest one already in the folder), VHS `<prefix>_<00001>.<ext>`.
"""

from __future__ import annotations

import asyncio
import io
import os
import random
import re
import secrets
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

DEFAULT_SIZE = 512
FRAMEPACK_FPS = 30


@dataclass(frozen=True)
class Shape:
    """What flows along an IMAGE/LATENT link: pixel size and how many images (batch x frames)."""

    width: int = DEFAULT_SIZE
    height: int = DEFAULT_SIZE
    count: int = 1


class RenderError(Exception):
    """An output node fails while executing (becomes `execution_error`)."""

    def __init__(self, exception_type: str, message: str) -> None:
        super().__init__(message)
        self.exception_type = exception_type


# --- reading the graph -------------------------------------------------------------------------------


def _is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


class GraphReader:
    """Derives sizes, frame counts and seeds from an (already validated) API-format graph."""

    _MEDIA_INPUTS = ("images", "image", "frames", "samples", "pixels", "latent_image", "start_latent", "latent")

    def __init__(self, prompt: dict[str, Any], image_size: Any = None) -> None:
        self.prompt = prompt
        self._image_size = image_size  # callable: LoadImage value → (w, h) | None
        self._shapes: dict[str, Shape] = {}

    def inputs(self, node_id: str) -> dict[str, Any]:
        return self.prompt[node_id].get("inputs", {})

    def upstream(self, node_id: str) -> list[str]:
        return [v[0] for v in self.inputs(node_id).values() if _is_link(v) and v[0] in self.prompt]

    def shape(self, node_id: str) -> Shape:
        if node_id not in self._shapes:
            self._shapes[node_id] = Shape()  # cycle guard
            self._shapes[node_id] = self._compute_shape(node_id)
        return self._shapes[node_id]

    def linked_shape(self, node_id: str, name: str | None = None) -> Shape | None:
        inputs = self.inputs(node_id)
        names = [name] if name else [n for n in self._MEDIA_INPUTS if n in inputs] + list(inputs)
        for n in names:
            value = inputs.get(n)
            if _is_link(value) and value[0] in self.prompt:
                return self.shape(value[0])
        return None

    def _compute_shape(self, node_id: str) -> Shape:
        node = self.prompt[node_id]
        class_type = node.get("class_type")
        inputs = self.inputs(node_id)
        base = self.linked_shape(node_id) or Shape()
        width, height = _int(inputs.get("width")), _int(inputs.get("height"))
        batch = _int(inputs.get("batch_size")) or 1
        length = _int(inputs.get("length"))
        if class_type == "LoadImage" and self._image_size is not None:
            size = self._image_size(inputs.get("image"))
            return Shape(*size, 1) if size else Shape()
        if class_type in ("ImageScaleBy", "LatentUpscaleBy"):
            factor = inputs.get("scale_by")
            factor = float(factor) if isinstance(factor, int | float) else 1.0
            return Shape(max(1, round(base.width * factor)), max(1, round(base.height * factor)), base.count)
        if class_type in ("FramePackSampler", "FramePackSampler_F1"):
            seconds = inputs.get("total_second_length")
            frames = round(float(seconds) * FRAMEPACK_FPS) if isinstance(seconds, int | float) else base.count
            return Shape(base.width, base.height, max(1, frames))
        if class_type == "FramePackSingleFrameSampler":
            return Shape(base.width, base.height, 1)
        if class_type in ("RIFE VFI", "FILM VFI"):
            multiplier = _int(inputs.get("multiplier")) or 2
            return Shape(base.width, base.height, max(1, (base.count - 1) * multiplier + 1))
        if class_type == "RepeatImageBatch":
            return Shape(base.width, base.height, base.count * (_int(inputs.get("amount")) or 1))
        if class_type == "ImageBatch":
            other = self.linked_shape(node_id, "image2")
            return Shape(base.width, base.height, base.count + (other.count if other else 1))
        if class_type == "ImageFromBatch":
            return Shape(base.width, base.height, length or 1)
        if class_type in ("VHS_LoadVideo", "VHS_LoadVideoPath", "VHS_LoadVideoFFmpeg"):
            frames = _int(inputs.get("frame_load_cap")) or 16
            return Shape(
                _int(inputs.get("custom_width")) or DEFAULT_SIZE,
                _int(inputs.get("custom_height")) or DEFAULT_SIZE,
                frames,
            )
        if width and height:  # Empty*Latent*, EmptyImage, ImageScale, *ImageToVideo, …
            count = batch * length if length else (batch if "batch_size" in inputs else base.count)
            return Shape(width, height, max(1, count))
        return base

    def seed(self, node_id: str) -> int:
        """The nearest upstream literal `seed`/`noise_seed` (else EmptyImage's `color`, else 0)."""
        seen: set[str] = set()
        queue = [node_id]
        fallback: int | None = None
        while queue:
            current = queue.pop(0)
            if current in seen or current not in self.prompt:
                continue
            seen.add(current)
            inputs = self.inputs(current)
            for key in ("seed", "noise_seed"):
                value = _int(inputs.get(key))
                if value is not None:
                    return value
            if fallback is None and self.prompt[current].get("class_type") == "EmptyImage":
                fallback = _int(inputs.get("color"))
            queue.extend(self.upstream(current))
        return fallback or 0

    def literal(self, node_id: str, name: str, default: Any) -> Any:
        value = self.inputs(node_id).get(name, default)
        return default if _is_link(value) else value

    def sampler_steps(self, node_id: str) -> int | None:
        """The step count a sampler node will report, from its own or its sigmas node's `steps`."""
        inputs = self.inputs(node_id)
        steps = _int(inputs.get("steps"))
        if steps is None and _is_link(inputs.get("sigmas")) and inputs["sigmas"][0] in self.prompt:
            steps = _int(self.inputs(inputs["sigmas"][0]).get("steps"))
        if steps is not None and self.prompt[node_id].get("class_type") == "KSamplerAdvanced":
            start = _int(inputs.get("start_at_step")) or 0
            end = _int(inputs.get("end_at_step"))
            steps = max(1, min(steps, end if end is not None else steps) - start)
        return steps if steps and steps > 0 else None


# --- pictures ----------------------------------------------------------------------------------------


def _palette(seed: int) -> tuple[random.Random, tuple[int, int, int], tuple[int, int, int]]:
    rng = random.Random(seed)
    background = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
    foreground = tuple(255 - c for c in background)
    return rng, background, foreground  # type: ignore[return-value]


def draw_image(seed: int, width: int, height: int, index: int = 0) -> Image.Image:
    """A seed-determined picture: a background colour and a grid of foreground cells (index = batch item)."""
    rng, background, foreground = _palette(seed * 7919 + index)
    image = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(image)
    cells = rng.randrange(8, 16)
    cw, ch = width / cells, height / cells
    for row in range(cells):
        for col in range(cells):
            if rng.random() < 0.5:
                # Outlined like line art, so the studio's blur check sees a crisp picture.
                draw.rectangle(
                    [int(col * cw), int(row * ch), int((col + 1) * cw) - 1, int((row + 1) * ch) - 1],
                    fill=foreground,
                    outline=(20, 20, 20),
                    width=2,
                )
    return image


def png_bytes(image: Image.Image, compress_level: int = 4) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def preview_jpegs(count: int = 8, size: int = 64) -> list[bytes]:
    """A few tiny real JPEGs used as sampler previews (picked by seed + step)."""
    frames = []
    for i in range(count):
        buffer = io.BytesIO()
        draw_image(i, size, size).save(buffer, format="JPEG", quality=80)
        frames.append(buffer.getvalue())
    return frames


# --- naming ------------------------------------------------------------------------------------------


class OutsideOutputFolder(RenderError):
    def __init__(self) -> None:
        super().__init__("Exception", "**** ERROR: Saving image outside the output folder is not allowed.")


def save_path(prefix: str, root: Path, width: int = 0, height: int = 0) -> tuple[Path, str, int, str]:
    """folder_paths.get_save_image_path: (folder, file name stem, next counter, subfolder)."""
    prefix = prefix.replace("%width%", str(width)).replace("%height%", str(height))
    normalized = os.path.normpath(prefix)
    subfolder = os.path.dirname(normalized)
    name = os.path.basename(normalized)
    folder = (root / subfolder).resolve()
    if os.path.commonpath((str(root.resolve()), str(folder))) != str(root.resolve()):
        raise OutsideOutputFolder()
    folder.mkdir(parents=True, exist_ok=True)
    counter = 1
    for existing in os.listdir(folder):
        head = existing[: len(name) + 1]
        if os.path.normcase(head[:-1]) != os.path.normcase(name) or head[-1:] != "_":
            continue
        try:
            digits = int(existing[len(name) + 1 :].split("_")[0])
        except ValueError:
            continue
        counter = max(counter, digits + 1)
    return folder, name, counter, subfolder


def vhs_counter(folder: Path, name: str) -> int:
    matcher = re.compile(f"{re.escape(name)}_(\\d+)\\D*\\..+", re.IGNORECASE)
    highest = 0
    for existing in os.listdir(folder):
        match = matcher.fullmatch(existing)
        if match:
            highest = max(highest, int(match.group(1)))
    return highest + 1


def temp_prefix() -> str:
    return "ComfyUI_temp_" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(5))


# --- videos ------------------------------------------------------------------------------------------


def video_size(shape: Shape, max_edge: int) -> tuple[int, int]:
    """The graph's aspect ratio scaled so the long edge is `max_edge`, both sides even (yuv420p)."""
    scale = max_edge / max(shape.width, shape.height)
    width = max(2, round(shape.width * scale / 2) * 2)
    height = max(2, round(shape.height * scale / 2) * 2)
    return width, height


def video_frames(seed: int, width: int, height: int, count: int) -> list[Image.Image]:
    """Frames of a square moving across a seed-coloured background."""
    _, background, foreground = _palette(seed)
    frames = []
    side = max(2, min(width, height) // 3)
    for i in range(count):
        frame = Image.new("RGB", (width, height), background)
        x = int((width - side) * i / max(1, count - 1))
        ImageDraw.Draw(frame).rectangle([x, (height - side) // 2, x + side - 1, (height + side) // 2], fill=foreground)
        frames.append(frame)
    return frames


_CODECS = {
    "h264": ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "ultrafast", "-movflags", "+faststart"],
    "h265": [
        "-c:v",
        "libx265",
        "-pix_fmt",
        "yuv420p",
        "-preset",
        "ultrafast",
        "-tag:v",
        "hvc1",
        "-x265-params",
        "log-level=error",
    ],
    "vp9": ["-c:v", "libvpx-vp9", "-pix_fmt", "yuv420p", "-deadline", "realtime", "-b:v", "200k"],
}


async def encode_video(frames: list[Image.Image], fps: float, codec: str, path: Path) -> None:
    """Pipe raw RGB frames through the system ffmpeg (asyncio subprocess); kills it when cancelled."""
    width, height = frames[0].size
    raw = b"".join(f.tobytes() for f in frames)
    args = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24"]
    args += ["-s", f"{width}x{height}", "-r", f"{fps:g}", "-i", "-", *_CODECS[codec], str(path)]
    process = await asyncio.create_subprocess_exec(
        *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    try:
        _, stderr = await process.communicate(raw)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    if process.returncode != 0:
        raise RenderError("RuntimeError", f"ffmpeg failed: {stderr.decode(errors='replace').strip()}")


def animated_bytes(frames: list[Image.Image], fps: float, fmt: str) -> bytes:
    buffer = io.BytesIO()
    duration = max(1, round(1000 / fps))
    frames[0].save(buffer, format=fmt, save_all=True, append_images=frames[1:], duration=duration, loop=0)
    return buffer.getvalue()
