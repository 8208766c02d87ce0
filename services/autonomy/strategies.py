"""Auto-correction's seven strategies, as data and pure functions on a generated image's recipe.

A strategy changes the studio's own image request (the `request` of an `image.generate` job: positive,
negative, width, height, steps, cfg, sampler, scheduler), never a ComfyUI graph, so the corrected recipe is
validated and stored like any other. The seed is left alone: the change is the fix.

Which strategies a rejection calls for comes from three sources, so every strategy is reachable (in the
earlier system only the categories chose, and resolution, blur and brightness were never reached): the
decision's rejection categories, the image's triage flags (small, blurry, dark, bright) and a low quality score.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from services.datasets.categories import negatives_for
from services.prompts.tokens import join_tokens

Request = dict[str, Any]

FIX_QUALITY = "fix_quality"
FIX_RESOLUTION = "fix_resolution"
FIX_BLUR = "fix_blur"
FIX_BRIGHTNESS = "fix_brightness"
FIX_CONTRAST = "fix_contrast"
FIX_APPEARANCE = "fix_appearance"
FIX_SOLO = "fix_solo"

# Rejection categories (services.datasets.categories) -> strategies, as the earlier system mapped them, plus
# the appearance-like categories it left out.
CATEGORY_STRATEGIES: dict[str, tuple[str, ...]] = {
    "bad_quality": (FIX_QUALITY,),
    "wrong_appearance": (FIX_APPEARANCE,),
    "wrong_pose": (FIX_APPEARANCE,),
    "wrong_expression": (FIX_APPEARANCE,),
    "wrong_species": (FIX_APPEARANCE,),
    "bad_anatomy": (FIX_APPEARANCE,),
    "not_solo": (FIX_SOLO,),
    "wrong_style": (FIX_QUALITY, FIX_CONTRAST),
}
# Triage flags (services.datasets.curation) -> strategies: what the measured defect calls for.
FLAG_STRATEGIES: dict[str, tuple[str, ...]] = {
    "small": (FIX_RESOLUTION,),
    "blurry": (FIX_BLUR,),
    "dark": (FIX_BRIGHTNESS,),
    "bright": (FIX_CONTRAST,),
}
# An image scored below this gets fix_quality whatever its categories.
LOW_QUALITY_SCORE = 0.4

MAX_STEPS_QUALITY = 50
CFG_RAISE_BELOW = 9.0
MAX_CFG_QUALITY = 10.0
BLUR_MIN_STEPS = 40
BLUR_CFG = 9.0
SMALL_SIDE = 768
MAX_SIDE = 2048  # beyond this the checkpoints the studio runs make tiled repeats, not detail
# Samplers that give soft, noisy results at low step counts; the earlier system swapped them for this one.
SOFT_SAMPLERS = frozenset({"euler", "euler_ancestral", "euler_a"})
QUALITY_SAMPLER = ("dpmpp_2m", "karras")
SHARP_TERMS = "sharp focus, highly detailed"
BRIGHT_TERMS = "well-lit, bright lighting, soft light"
BRIGHT_NEGATIVES = "dark, underexposed"
CONTRAST_TERMS = "high contrast, vivid colors"
CONTRAST_NEGATIVES = "washed out, low contrast"
SOLO_TERMS = "solo, single character"
SOLO_NEGATIVES = "multiple characters, group shot, crowd"


@dataclass(frozen=True)
class Strategy:
    name: str
    label: str  # what it does, for the decision log
    apply: Callable[[Request, tuple[str, ...]], Request]  # (request, rejection categories) -> new request


def fix_quality(request: Request, categories: tuple[str, ...] = ()) -> Request:
    """More steps (+10, at most 50), a little more guidance (+1 while below 9, at most 10), and a sharper
    sampler than euler."""
    fixed = dict(request)
    fixed["steps"] = max(int(request["steps"]), min(int(request["steps"]) + 10, MAX_STEPS_QUALITY))
    cfg = float(request["cfg"])
    if cfg < CFG_RAISE_BELOW:
        fixed["cfg"] = min(cfg + 1.0, MAX_CFG_QUALITY)
    if str(request.get("sampler", "")) in SOFT_SAMPLERS:
        fixed["sampler"], fixed["scheduler"] = QUALITY_SAMPLER
    return fixed


def fix_resolution(request: Request, categories: tuple[str, ...] = ()) -> Request:
    """Larger: x1.5 when a side is below 768, else x1.2, the aspect kept, sides on multiples of 8, at most 2048."""
    width, height = int(request["width"]), int(request["height"])
    factor = 1.5 if min(width, height) < SMALL_SIDE else 1.2
    factor = min(factor, MAX_SIDE / max(width, height))
    fixed = dict(request)
    # Never smaller than before (an image already at the cap keeps its size).
    fixed["width"] = max(width, int(width * factor) // 8 * 8)
    fixed["height"] = max(height, int(height * factor) // 8 * 8)
    return fixed


def fix_blur(request: Request, categories: tuple[str, ...] = ()) -> Request:
    """At least 40 steps (old + 15), guidance 9, and sharpness terms in the positive prompt."""
    fixed = dict(request)
    steps = int(request["steps"])
    if steps < BLUR_MIN_STEPS:
        fixed["steps"] = max(steps + 15, BLUR_MIN_STEPS)
    fixed["cfg"] = BLUR_CFG
    fixed["positive"] = join_tokens(str(request.get("positive", "")), SHARP_TERMS)
    return fixed


def fix_brightness(request: Request, categories: tuple[str, ...] = ()) -> Request:
    """Lighting terms in the positive prompt, darkness in the negative."""
    return _with_terms(request, positive=BRIGHT_TERMS, negative=BRIGHT_NEGATIVES)


def fix_contrast(request: Request, categories: tuple[str, ...] = ()) -> Request:
    """Contrast and vivid colour terms in the positive prompt, washed-out in the negative."""
    return _with_terms(request, positive=CONTRAST_TERMS, negative=CONTRAST_NEGATIVES)


def fix_appearance(request: Request, categories: tuple[str, ...] = ()) -> Request:
    """The negative terms the rejection's categories teach (wrong colours, bad hands ...)."""
    return _with_terms(request, negative=", ".join(negatives_for(categories)))


def fix_solo(request: Request, categories: tuple[str, ...] = ()) -> Request:
    """ "solo, single character" first in the positive prompt; groups and crowds in the negative."""
    fixed = _with_terms(request, negative=SOLO_NEGATIVES)
    fixed["positive"] = join_tokens(SOLO_TERMS, str(request.get("positive", "")))
    return fixed


def _with_terms(request: Request, *, positive: str = "", negative: str = "") -> Request:
    fixed = dict(request)
    fixed["positive"] = join_tokens(str(request.get("positive", "")), positive)
    fixed["negative"] = join_tokens(str(request.get("negative", "")), negative)
    return fixed


STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy(FIX_QUALITY, "more steps and guidance, a sharper sampler", fix_quality),
        Strategy(FIX_RESOLUTION, "a larger image", fix_resolution),
        Strategy(FIX_BLUR, "more steps, guidance 9 and sharp-focus terms", fix_blur),
        Strategy(FIX_BRIGHTNESS, "lighting terms", fix_brightness),
        Strategy(FIX_CONTRAST, "contrast and vivid-colour terms", fix_contrast),
        Strategy(FIX_APPEARANCE, "the rejection's negative terms", fix_appearance),
        Strategy(FIX_SOLO, "solo terms and group negatives", fix_solo),
    )
}


def strategies_for(categories: Iterable[str], flags: Iterable[str], quality_score: float | None) -> list[str]:
    """The strategies a rejection calls for, in the table's order, each once. Empty: nothing to correct."""
    chosen: set[str] = set()
    for category in categories:
        chosen.update(CATEGORY_STRATEGIES.get(category, ()))
    for flag in flags:
        chosen.update(FLAG_STRATEGIES.get(flag, ()))
    if quality_score is not None and quality_score < LOW_QUALITY_SCORE:
        chosen.add(FIX_QUALITY)
    return [name for name in STRATEGIES if name in chosen]


def corrected(request: Request, strategies: Iterable[str], categories: Iterable[str] = ()) -> Request:
    """The request with each strategy applied in turn (unknown names are a bug: KeyError)."""
    fixed = dict(request)
    given = tuple(categories)
    for name in strategies:
        fixed = STRATEGIES[name].apply(fixed, given)
    return fixed


def triage_flags(stored: str) -> list[str]:
    """A DatasetImage's triage flags (",blurry,small,") as a list."""
    return [flag for flag in stored.split(",") if flag]
