"""What each video engine can render (lengths, frame rates, sizes, source images) and which one a shot gets.

Pure rules, no I/O: the scene planner, the shot page and the video job all ask here, so a shot that one of
them accepts is never refused by another. Checks raise Invalid with a message that names the fix.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from services.errors import Invalid

VideoEngineName = Literal["framepack", "framepack_f1", "ltx", "wan", "animatic"]

# FramePack's own resolution buckets for its default 640 resolution, from lllyasviel/FramePack
# `diffusers_helper/bucket_tools.py` (kijai's ComfyUI-FramePackWrapper ships the same list), turned from its
# (height, width) pairs into (width, height) and kept in its order, which decides ties. Every side is a
# multiple of 16, as FramePackRequest needs; 544x704 is the portrait size the earlier system forced.
FRAMEPACK_BUCKETS: tuple[tuple[int, int], ...] = (
    (960, 416),
    (864, 448),
    (832, 480),
    (768, 512),
    (704, 544),
    (672, 576),
    (640, 608),
    (608, 640),
    (576, 672),
    (544, 704),
    (512, 768),
    (480, 832),
    (448, 864),
    (416, 960),
)
# FramePack renders 30 fps in sections of `latent_window_size` (9) latents, 4 frames each; the wrapper's
# sampler plans round(seconds * 30 / 36) sections (at least 1) and the start latent adds one frame.
FRAMEPACK_FPS = 30.0
_FRAMEPACK_SECTION_FRAMES = 9 * 4
# Portrait first, landscape last: on a tie (a square source) the later size wins, as in FramePack.
LTX_SIZES: tuple[tuple[int, int], ...] = ((320, 512), (512, 320))
WAN_SIZES: tuple[tuple[int, int], ...] = ((480, 832), (832, 480))
ESTABLISHING_SHOT_TYPES = frozenset({"establishing", "wide_establishing", "aerial", "environment"})
ANIMATIC = "animatic"
# The example graphs in `workflows.engines` (what device preflight checks) each engine needs ready.
_PREFLIGHT_KEYS: dict[str, tuple[str, ...]] = {
    "framepack": ("framepack",),
    "framepack_f1": ("framepack_f1",),
    "ltx": ("ltx_i2v", "ltx_t2v"),
    "wan": ("wan_t2v",),
}


@dataclass(frozen=True)
class EngineLimits:
    """One engine's rules; `fps` None means the project's frame rate and empty `sizes` any size."""

    name: VideoEngineName
    label: str
    min_seconds: float
    max_seconds: float
    fps: float | None
    needs_source: bool  # image-to-video only
    takes_source: bool  # uses a source image when the shot has one
    sizes: tuple[tuple[int, int], ...]
    device: Literal["comfyui", "cpu"]


ENGINE_LIMITS: dict[str, EngineLimits] = {
    "framepack": EngineLimits(
        "framepack", "FramePack", 1.0, 10.0, FRAMEPACK_FPS, True, True, FRAMEPACK_BUCKETS, "comfyui"
    ),
    "framepack_f1": EngineLimits(
        "framepack_f1", "FramePack F1", 1.0, 10.0, FRAMEPACK_FPS, True, True, FRAMEPACK_BUCKETS, "comfyui"
    ),
    # 10 s at 24 fps is 241 frames, inside the 257 LTX-Video 2B was trained up to.
    "ltx": EngineLimits("ltx", "LTX-Video", 1.0, 10.0, 24.0, False, True, LTX_SIZES, "comfyui"),
    # Wan 2.1 T2V 1.3B: text only, 81 frames (5 s at 16 fps) is the length it was trained on.
    "wan": EngineLimits("wan", "Wan 2.1", 1.0, 5.0, 16.0, False, False, WAN_SIZES, "comfyui"),
    # Camera moves over the source image (or a title card without one), in the project's frame size and rate.
    "animatic": EngineLimits("animatic", "Animatic", 0.5, 60.0, None, False, True, (), "cpu"),
}


def limits_of(engine: str) -> EngineLimits:
    """The limits of one engine. Invalid("engine"): not a video engine the studio knows."""
    limits = ENGINE_LIMITS.get(engine)
    if limits is None:
        raise Invalid("engine", f"'{engine}' is not a video engine; choose one of {', '.join(ENGINE_LIMITS)}")
    return limits


def check_shot(engine: str, seconds: float, has_source: bool) -> None:
    """Refuse a shot the engine cannot render. Invalid("engine" | "seconds" | "source") names the fix."""
    limits = limits_of(engine)
    if not math.isfinite(seconds) or not limits.min_seconds <= seconds <= limits.max_seconds:
        raise Invalid(
            "seconds",
            f"{limits.label} renders {_length_range(limits)}; this shot is {seconds:g} s"
            f" (shorten it, split it into shots, or choose {_longer_engines(seconds, has_source)})",
        )
    if limits.needs_source and not has_source:
        raise Invalid(
            "source",
            f"{limits.label} animates an image: give the shot a source image or choose Wan 2.1 for a shot without one",
        )
    if has_source and not limits.takes_source:
        raise Invalid(
            "source",
            f"{limits.label} renders from text only and would ignore the source image: remove the source image"
            " or choose FramePack to animate it",
        )


def frame_count(engine: str, seconds: float, *, frame_rate: float | None = None) -> int:
    """How many frames the engine renders for `seconds`; `frame_rate` is the project's (the animatic's rate)."""
    limits = limits_of(engine)
    if engine in ("framepack", "framepack_f1"):
        sections = max(1, round(seconds * FRAMEPACK_FPS / _FRAMEPACK_SECTION_FRAMES))
        return sections * _FRAMEPACK_SECTION_FRAMES + 1
    if engine == "wan":
        # max(9, secs x 16 + 1), rounded to the 4k + 1 frames the Wan VAE packs.
        return max(9, _video_vae_frames(seconds * 16.0, 4))
    if engine == "ltx":
        # max(9, secs x 24 + 1), rounded to the 8k + 1 frames LTX-Video's latents hold.
        return max(9, _video_vae_frames(seconds * 24.0, 8))
    fps = frame_rate if frame_rate is not None else limits.fps
    if fps is None or fps <= 0:
        raise Invalid("frame_rate", f"{limits.label} renders at the project's frame rate; give it")
    return max(1, round(seconds * fps))


def output_size(engine: str, source_size: tuple[int, int] | None, frame_size: tuple[int, int]) -> tuple[int, int]:
    """The (width, height) the engine renders: its size nearest the source's aspect (else the frame's)."""
    limits = limits_of(engine)
    if not limits.sizes:
        return frame_size
    width, height = source_size if source_size is not None and limits.takes_source else frame_size
    return nearest_size(limits.sizes, width, height)


def nearest_size(sizes: tuple[tuple[int, int], ...], width: int, height: int) -> tuple[int, int]:
    """FramePack's `find_nearest_bucket`: the least |h*bw - w*bh|, the later size winning a tie."""
    best = sizes[0]
    best_metric = math.inf
    for size_width, size_height in sizes:
        metric = abs(height * size_width - width * size_height)
        if metric <= best_metric:
            best, best_metric = (size_width, size_height), metric
    return best


def available_engines(ready_preflight_keys: Iterable[str]) -> set[str]:
    """The video engines some device can run, from the preflight engine keys ready on any device; plus the animatic."""
    ready = set(ready_preflight_keys)
    return {engine for engine, keys in _PREFLIGHT_KEYS.items() if ready.issuperset(keys)} | {ANIMATIC}


def select_engine(
    *,
    shot_type: str,
    has_characters: bool,
    has_source: bool,
    character_loras: list[str],
    available: set[str],
    seconds: float | None = None,
) -> tuple[str, str]:
    """(engine, reason) for a shot, by the earlier selector's priority, among `available` engines.

    `available` is what some ComfyUI device is ready for; the animatic always is, and is the fallback.
    With `seconds`, engines that cannot render that length are passed over.
    """
    # The earlier selector sent a shot whose character has a LoRA to LTX with that LoRA. Those are SD 1.5
    # image LoRAs: they do not fit LTX's transformer and changed nothing (§6.2 item 19), nor can FramePack
    # (HunyuanVideo) or Wan load them. So a LoRA never chooses the engine here; identity comes from the
    # source image.
    candidates, reason = _candidates(shot_type.strip().lower(), has_characters, has_source)
    lora_note = (
        f"; the character LoRA {character_loras[0]} is an SD image LoRA that no video engine can load,"
        " so it does not choose the engine"
        if character_loras
        else ""
    )
    unavailable: list[str] = []
    wrong_length: list[str] = []
    for engine in candidates:
        limits = ENGINE_LIMITS[engine]
        if engine not in available:
            unavailable.append(limits.label)
        elif seconds is not None and not limits.min_seconds <= seconds <= limits.max_seconds:
            wrong_length.append(f"{limits.label} renders {_length_range(limits)}")
        else:
            return engine, f"{limits.label}: {reason}{_detours(unavailable, wrong_length)}{lora_note}"
    detours = _detours(unavailable, wrong_length)
    return ANIMATIC, f"Animatic (camera moves, rendered on the CPU): {reason}{detours}{lora_note}"


def _candidates(shot_type: str, has_characters: bool, has_source: bool) -> tuple[list[str], str]:
    # The earlier selector put establishing and character-less shots on Wan before looking at the image,
    # and Wan then dropped the image (§6.2 item 5); Wan here cannot take one, so a source image comes first.
    if has_source:
        return ["framepack", "framepack_f1", "ltx"], "the shot has a source image to animate"
    if shot_type in ESTABLISHING_SHOT_TYPES:
        kind = shot_type.replace("_", " ")
        return ["wan", "ltx"], f"{kind} shots without a source image are rendered from text"
    if not has_characters:
        return ["wan", "ltx"], "a shot without characters or a source image is rendered from text"
    return ["wan", "ltx"], (
        "a shot without a source image is rendered from text (give it a source image to keep the characters' look)"
    )


def _detours(unavailable: list[str], wrong_length: list[str]) -> str:
    notes = []
    if unavailable:
        notes.append(f"no ComfyUI device is ready for {_either(unavailable)}")
    notes.extend(wrong_length)
    return f", but {'; '.join(notes)}" if notes else ""


def _length_range(limits: EngineLimits) -> str:
    return f"{limits.min_seconds:g}\N{EN DASH}{limits.max_seconds:g} s"


def _video_vae_frames(exact: float, step: int) -> int:
    return round(exact / step) * step + 1


def _longer_engines(seconds: float, has_source: bool) -> str:
    fitting = [
        limits.label
        for limits in ENGINE_LIMITS.values()
        if limits.min_seconds <= seconds <= limits.max_seconds
        and (has_source or not limits.needs_source)
        and (limits.takes_source or not has_source)
    ]
    return _either(fitting) if fitting else "another length"


def _either(labels: list[str]) -> str:
    return labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} or {labels[-1]}"
