"""Generation parameters: each one taken from the first source that has it, and the source recorded."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, TypeVar

from services.prompts.explain import Explanation
from services.prompts.inputs import StyleInput
from services.prompts.profiles import ModelProfile, PredictionType
from services.prompts.samplers import COMFY_NAMES, comfy_sampler, human_sampler

Confidence = Literal["low", "medium", "high"]

STUDIO_DEFAULT_CFG = 7.0
STUDIO_DEFAULT_STEPS = 25
STUDIO_DEFAULT_SAMPLER = "DPM++ 2M Karras"
STUDIO_DEFAULT = "studio default"

# Weakest first: a threshold trusts its own level and every stronger one.
CONFIDENCE_LEVELS: tuple[Confidence, ...] = ("low", "medium", "high")
# Learned parameters from a handful of reviews are noise; the settings' default trusts them from "medium" on.
DEFAULT_MIN_CONFIDENCE: Confidence = "medium"


def is_trusted(confidence: Confidence, minimum: Confidence) -> bool:
    """Whether a recommendation of `confidence` may be used when the settings ask for `minimum`."""
    return CONFIDENCE_LEVELS.index(confidence) >= CONFIDENCE_LEVELS.index(minimum)


@dataclass(frozen=True)
class LearnedParams:
    """What learning recommends for this character and checkpoint: the parameter set its reviews rank best.

    `samples` is how many reviewed images back it (its confidence follows from that), `approved` how many of
    them were approved; `scheduler` travels with the sampler it was reviewed with.
    """

    cfg: float | None
    steps: int | None
    sampler: str | None
    confidence: Confidence
    samples: int
    scheduler: str | None = None
    approved: int | None = None

    def describe(self) -> str:
        """Where the values came from, as the prompt preview shows it."""
        backing = (
            f"{self.approved} of {self.samples} reviewed images approved"
            if self.approved is not None
            else f"{self.samples} reviewed images"
        )
        return f"recommended by learning ({self.confidence} confidence, {backing})"


@dataclass(frozen=True)
class GenerationParams:
    """The parameters sent to ComfyUI (sampler and scheduler in ComfyUI's names) and where each came from."""

    cfg: float
    steps: int
    sampler: str
    scheduler: str
    width: int
    height: int
    prediction_type: PredictionType
    rescale_cfg: float | None
    sources: Mapping[str, str]


T = TypeVar("T")


def _first(candidates: list[tuple[T | None, str]]) -> tuple[T, str]:
    for value, source in candidates:
        if value is not None:
            return value, source
    raise ValueError("no candidate value")  # unreachable: the last candidate is always a studio default


def resolve_params(
    style: StyleInput,
    profile: ModelProfile,
    learned: LearnedParams | None,
    min_confidence: Confidence = DEFAULT_MIN_CONFIDENCE,
) -> tuple[GenerationParams, list[Explanation]]:
    """Cascade each parameter: learning's recommendation (at `min_confidence` or above) > style (when set) >
    profile default > studio default.

    The scheduler follows the sampler: a trusted recommendation's scheduler (reviewed together with its
    sampler) wins, then a style's explicit scheduler, then the one a human-readable sampler name implies
    ("Euler a" -> normal), then the profile's own scheduler (it is tuned for the profile's sampler), then the
    studio default.
    """
    explanations: list[Explanation] = []
    style_source = f"style {style.name}"
    profile_source = f"profile {profile.name}"
    trusted = learned if learned is not None and is_trusted(learned.confidence, min_confidence) else None
    learned_source = learned.describe() if learned else ""
    if learned is not None and trusted is None:
        wanted = " or ".join(CONFIDENCE_LEVELS[CONFIDENCE_LEVELS.index(min_confidence) :])
        explanations.append(
            Explanation(
                "params",
                "skipped",
                "learned parameters",
                f"{learned_source} is not used: the settings ask for {wanted} confidence (learning_min_confidence)",
            )
        )

    cfg, cfg_source = _first(
        [
            (trusted.cfg if trusted else None, learned_source),
            (style.cfg_scale, style_source),
            (profile.default_cfg, profile_source),
            (STUDIO_DEFAULT_CFG, STUDIO_DEFAULT),
        ]
    )
    steps, steps_source = _first(
        [
            (trusted.steps if trusted else None, learned_source),
            (style.steps, style_source),
            (profile.default_steps, profile_source),
            (STUDIO_DEFAULT_STEPS, STUDIO_DEFAULT),
        ]
    )
    sampler_name, sampler_source = _first(
        [
            (trusted.sampler if trusted else None, learned_source),
            (style.sampler, style_source),
            (profile.default_sampler, profile_source),
            (STUDIO_DEFAULT_SAMPLER, STUDIO_DEFAULT),
        ]
    )

    human = human_sampler(sampler_name)
    if trusted is not None and trusted.scheduler is not None:
        scheduler_hint, scheduler_source = trusted.scheduler, learned_source
    elif style.scheduler is not None:
        scheduler_hint, scheduler_source = style.scheduler, style_source
    elif human is not None:
        scheduler_hint, scheduler_source = None, f"{sampler_source} (implied by sampler '{human}')"
    elif profile.default_scheduler is not None:
        scheduler_hint, scheduler_source = profile.default_scheduler, profile_source
    else:
        scheduler_hint, scheduler_source = None, STUDIO_DEFAULT
    sampler, scheduler = comfy_sampler(sampler_name, scheduler_hint)

    # Saved names were checked against the devices' lists; one ComfyUI 0.3.64 lacks (a newer server's, or a
    # style saved before names were checked) is sent as named, never swapped: a server lacking it names it.
    unlisted = f" (not one {COMFY_NAMES.source} offers; sent as named)"
    if sampler not in COMFY_NAMES.samplers:
        sampler_source += unlisted
    if scheduler not in COMFY_NAMES.schedulers:
        scheduler_source += unlisted

    sources = {
        "cfg": cfg_source,
        "steps": steps_source,
        "sampler": sampler_source,
        "scheduler": scheduler_source,
        "width": style_source,
        "height": style_source,
        "prediction_type": profile_source,
        "rescale_cfg": profile_source,
    }
    params = GenerationParams(
        cfg=float(cfg),
        steps=int(steps),
        sampler=sampler,
        scheduler=scheduler,
        width=style.width,
        height=style.height,
        prediction_type=profile.prediction_type,
        rescale_cfg=profile.rescale_cfg,
        sources=MappingProxyType(sources),
    )
    shown = {
        "cfg": f"{params.cfg:g}",
        "steps": str(params.steps),
        "sampler": params.sampler,
        "scheduler": params.scheduler,
        "width": str(params.width),
        "height": str(params.height),
        "prediction_type": params.prediction_type,
        "rescale_cfg": "off" if params.rescale_cfg is None else f"{params.rescale_cfg:g}",
    }
    explanations.extend(Explanation("params", "chosen", f"{key} {shown[key]}", sources[key]) for key in sources)
    return params, explanations
