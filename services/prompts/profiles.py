"""Model profiles: how each checkpoint family wants to be prompted, matched from the checkpoint filename.

Profiles are data (the studio keeps them in the ``model_profiles`` table and users edit them); the code
never branches on a checkpoint name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

Architecture = Literal["sd15", "sdxl"]
PromptFormat = Literal["prose", "booru_tags"]
PredictionType = Literal["epsilon", "v_prediction"]

ARCHITECTURES: tuple[str, ...] = get_args(Architecture)
PROMPT_FORMATS: tuple[str, ...] = get_args(PromptFormat)
PREDICTION_TYPES: tuple[str, ...] = get_args(PredictionType)


@dataclass(frozen=True)
class ModelProfile:
    """A checkpoint family: its architecture, prompt style, quality tags and default generation parameters."""

    name: str
    match: tuple[str, ...]
    priority: int
    architecture: Architecture
    prompt_format: PromptFormat
    quality_prefix: str = ""
    quality_negative: str = ""
    strip_style_tags: tuple[str, ...] = ()
    solo_suffix: str = "solo"
    background_suffix: str = ""
    ip_adapter_model: str | None = None
    vision_hint: str = ""
    style_label: str = ""
    default_cfg: float = 7.0
    default_steps: int = 25
    default_sampler: str | None = None
    default_scheduler: str | None = None
    prediction_type: PredictionType = "epsilon"
    rescale_cfg: float | None = None
    min_side: int = 256
    max_side: int = 1024
    threshold_offset: float = 0.0

    def __post_init__(self) -> None:
        # Rows come from a JSON column (lists); keep the dataclass hashable and immutable anyway.
        object.__setattr__(self, "match", tuple(self.match))
        object.__setattr__(self, "strip_style_tags", tuple(self.strip_style_tags))
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"profile {self.name}: architecture must be one of {ARCHITECTURES}")
        if self.prompt_format not in PROMPT_FORMATS:
            raise ValueError(f"profile {self.name}: prompt_format must be one of {PROMPT_FORMATS}")
        if self.prediction_type not in PREDICTION_TYPES:
            raise ValueError(f"profile {self.name}: prediction_type must be one of {PREDICTION_TYPES}")
        if not 0 < self.min_side <= self.max_side:
            raise ValueError(f"profile {self.name}: need 0 < min_side <= max_side")

    @property
    def is_catch_all(self) -> bool:
        """A profile without match strings is the fallback for checkpoints no other profile claims."""
        return not self.match


# Booru-tag models drift towards the named art style or scene when given these prose phrases (they were
# trained on tags, not sentences), so translation removes them; the quality prefix defines the look instead.
BOORU_STRIP_STYLE_TAGS: tuple[str, ...] = (
    "in the style of arcane",
    "arcane style",
    "arcane",
    "neon-noir alley",
    "neon noir alley",
    "neon-noir street",
    "neon-noir",
    "neon noir",
    "cyberpunk alley",
    "cyberpunk style",
    "neon-lit alley",
    "dark alley",
    "rain-slicked street",
    "film noir",
    "cinematic lighting",
    "photorealistic",
    "hyperrealistic",
    "3d render",
    "octane render",
    "unreal engine",
    "digital painting",
    "concept art",
    "oil painting",
)

_NOOBAI_PREFIX = "masterpiece, best quality, newest, absurdres, highres"
_NOOBAI_NEGATIVE = "worst quality, low quality, lowres, bad anatomy, bad hands, jpeg artifacts, signature, watermark"

# SD1.5 checkpoints are trained around 512-768 px; SDXL around 1024 px.
_SD15_SIDES = {"min_side": 256, "max_side": 1024}
_SDXL_SIDES = {"min_side": 512, "max_side": 2048}

BUILTIN_PROFILES: tuple[ModelProfile, ...] = (
    ModelProfile(
        name="NoobAI-XL v-pred",
        # Civitai ships it as "noobaiXLNAIXL_vPred10Version"; matching ignores separators and case.
        match=("NoobAI-XL-Vpred", "noobaiXLNAIXL_vPred", "NoobAI-Vpred"),
        priority=10,
        architecture="sdxl",
        prompt_format="booru_tags",
        quality_prefix=_NOOBAI_PREFIX,
        quality_negative=_NOOBAI_NEGATIVE,
        strip_style_tags=BOORU_STRIP_STYLE_TAGS,
        background_suffix="simple_background",
        vision_hint="anime illustration from a booru-tag model; flat cel shading is expected",
        style_label="anime (booru tags)",
        default_cfg=4.5,
        default_steps=30,
        default_sampler="euler",
        default_scheduler="sgm_uniform",
        prediction_type="v_prediction",
        rescale_cfg=0.7,
        threshold_offset=-0.05,
        **_SDXL_SIDES,
    ),
    ModelProfile(
        name="NoobAI-XL",
        match=("NoobAI-XL", "noobai"),
        priority=20,
        architecture="sdxl",
        prompt_format="booru_tags",
        quality_prefix=_NOOBAI_PREFIX,
        quality_negative=_NOOBAI_NEGATIVE,
        strip_style_tags=BOORU_STRIP_STYLE_TAGS,
        background_suffix="simple_background",
        vision_hint="anime illustration from a booru-tag model; flat cel shading is expected",
        style_label="anime (booru tags)",
        default_cfg=5.5,
        default_steps=28,
        default_sampler="euler_ancestral",
        default_scheduler="normal",
        threshold_offset=-0.05,
        **_SDXL_SIDES,
    ),
    ModelProfile(
        name="Illustrious-XL",
        # Illustrious and Animagine XL (and their many merges) are SDXL anime models trained on booru tags.
        match=("illustrious", "animagine"),
        priority=25,
        architecture="sdxl",
        prompt_format="booru_tags",
        quality_prefix="masterpiece, best quality, very aesthetic, absurdres",
        quality_negative="lowres, worst quality, bad quality, bad anatomy, bad hands, jpeg artifacts, watermark",
        strip_style_tags=BOORU_STRIP_STYLE_TAGS,
        background_suffix="simple_background",
        vision_hint="anime illustration from a booru-tag model; flat cel shading is expected",
        style_label="anime (booru tags)",
        default_cfg=6.0,
        default_steps=28,
        default_sampler="euler_ancestral",
        default_scheduler="normal",
        threshold_offset=-0.05,
        **_SDXL_SIDES,
    ),
    ModelProfile(
        name="Counterfeit",
        match=("Counterfeit",),
        priority=30,
        architecture="sd15",
        prompt_format="prose",
        quality_prefix="masterpiece, best quality, dark anime style, dramatic shadows",
        quality_negative="worst quality, low quality, lowres, bad anatomy, bad hands, extra fingers, blurry, watermark",
        background_suffix="simple background",
        ip_adapter_model="ip-adapter-plus_sd15",
        vision_hint="dark, moody anime illustration; deep shadows are intended, not a defect",
        style_label="dark anime",
        default_cfg=7.5,
        default_steps=30,
        default_sampler="euler_ancestral",
        default_scheduler="normal",
        **_SD15_SIDES,
    ),
    ModelProfile(
        name="Pony Diffusion",
        match=("ponyDiffusion",),
        priority=40,
        architecture="sdxl",
        prompt_format="booru_tags",
        quality_prefix="score_9, score_8_up, score_7_up, source_anime",
        quality_negative="score_6, score_5, score_4, worst quality, low quality, bad anatomy, watermark, signature",
        strip_style_tags=BOORU_STRIP_STYLE_TAGS,
        background_suffix="simple_background",
        vision_hint="anime illustration from a booru-tag model; flat cel shading is expected",
        style_label="anime (booru tags)",
        default_cfg=7.0,
        default_steps=28,
        threshold_offset=-0.05,
        **_SDXL_SIDES,
    ),
    ModelProfile(
        name="CyberRealistic",
        match=("cyberrealistic",),
        priority=50,
        architecture="sd15",
        prompt_format="prose",
        quality_prefix="photorealistic, highly detailed, sharp focus, natural lighting",
        quality_negative="cartoon, anime, illustration, worst quality, low quality, blurry, deformed, bad anatomy",
        background_suffix="plain studio background",
        ip_adapter_model="ip-adapter-plus_sd15",
        vision_hint="photorealistic render; judge it like a photograph",
        style_label="photoreal",
        **_SD15_SIDES,
    ),
    ModelProfile(
        name="RealCartoon-Pixar",
        match=("realcartoonPixar", "realcartoon-pixar"),
        priority=60,
        architecture="sd15",
        prompt_format="prose",
        quality_prefix="3d render, pixar style, highly detailed, vibrant colors, soft lighting",
        quality_negative="photo, photorealistic, worst quality, low quality, blurry, deformed, bad anatomy",
        background_suffix="simple background",
        ip_adapter_model="ip-adapter-plus_sd15",
        vision_hint="Pixar/Illumination-style 3D cartoon; exaggerated, stylised proportions are intended",
        style_label="3D cartoon",
        default_cfg=8.5,
        default_steps=40,
        threshold_offset=-0.03,
        **_SD15_SIDES,
    ),
    ModelProfile(
        name="Realistic Vision",
        match=("realistic_vision", "realisticVision"),
        priority=70,
        architecture="sd15",
        prompt_format="prose",
        quality_prefix="RAW photo, highly detailed, sharp focus, film grain",
        quality_negative="cartoon, anime, 3d render, illustration, worst quality, low quality, blurry, deformed",
        background_suffix="plain studio background",
        ip_adapter_model="ip-adapter-plus_sd15",
        vision_hint="photorealistic render; judge it like a photograph",
        style_label="photoreal",
        **_SD15_SIDES,
    ),
    ModelProfile(
        name="DreamShaper",
        match=("dreamshaper",),
        priority=80,
        architecture="sd15",
        prompt_format="prose",
        quality_prefix="masterpiece, best quality, highly detailed, digital illustration",
        quality_negative="worst quality, low quality, blurry, deformed, bad anatomy, watermark",
        background_suffix="simple background",
        ip_adapter_model="ip-adapter-plus_sd15",
        vision_hint="painterly digital illustration",
        style_label="illustration",
        **_SD15_SIDES,
    ),
    ModelProfile(
        name="SDXL",
        # Stability's SDXL base and the checkpoints that keep "SDXL" in their name; prompted in prose.
        match=("sdxl",),
        priority=900,
        architecture="sdxl",
        prompt_format="prose",
        quality_prefix="masterpiece, best quality, highly detailed",
        quality_negative="worst quality, low quality, blurry, deformed, watermark",
        background_suffix="simple background",
        style_label="generic",
        default_steps=30,
        **_SDXL_SIDES,
    ),
    ModelProfile(
        name="Default",
        match=(),
        priority=1000,
        architecture="sd15",
        prompt_format="prose",
        quality_prefix="masterpiece, best quality, highly detailed",
        quality_negative="worst quality, low quality, blurry, deformed",
        background_suffix="simple background",
        style_label="generic",
        **_SD15_SIDES,
    ),
)

_SEPARATORS = re.compile(r"[\W_]+")


def _squash(text: str) -> str:
    # "NoobAI-XL-Vpred" must find "noobaiXLVpred_v10": compare without case and separators.
    return _SEPARATORS.sub("", text).lower()


def checkpoint_filename(checkpoint: str) -> str:
    """The file name of a checkpoint path (ComfyUI lists sub-folders with either slash)."""
    return re.split(r"[\\/]", checkpoint.strip())[-1]


def match_profile(checkpoint: str, profiles: Sequence[ModelProfile]) -> tuple[ModelProfile, str]:
    """Pick the profile for a checkpoint filename and say why.

    Profiles are tried by ascending priority (ties keep their order); the first whose match string is a
    substring of the filename, ignoring case and separators, wins. Only the file name is compared, so a
    sub-folder name cannot claim a checkpoint. Without a match the catch-all profile (``match == ()``)
    with the lowest priority is used; without one of those a ``ValueError`` is raised.
    """
    filename = checkpoint_filename(checkpoint)
    squashed = _squash(filename)
    ordered = sorted(profiles, key=lambda profile: profile.priority)
    for profile in ordered:
        for needle in profile.match:
            key = _squash(needle)
            if key and key in squashed:
                return profile, (
                    f"checkpoint '{filename}' contains '{needle}' (ignoring case and separators): "
                    f"profile {profile.name} (priority {profile.priority})"
                )
    for profile in ordered:
        if profile.is_catch_all:
            shown = f"checkpoint '{filename}'" if filename else "no checkpoint"
            return profile, f"no profile matches {shown}; using the catch-all profile {profile.name}"
    raise ValueError(f"no model profile matches checkpoint '{filename}' and there is no catch-all profile")


def validate_size(width: int, height: int, profile: ModelProfile) -> list[str]:
    """Human messages about an image size the profile's checkpoint family cannot use well; empty when fine.

    Latents are 1/8 of the image, so sides must be multiples of 8; the profile's min/max sides keep SD1.5
    and SDXL models near the resolutions they were trained at.
    """
    problems: list[str] = []
    family = f"{profile.architecture} models (profile {profile.name})"
    for label, value in (("width", width), ("height", height)):
        if value <= 0:
            problems.append(f"{label} {value} must be positive")
            continue
        if value % 8:
            problems.append(f"{label} {value} is not a multiple of 8")
        if value > profile.max_side:
            problems.append(f"{label} {value} exceeds {profile.max_side} for {family}")
        elif value < profile.min_side:
            problems.append(f"{label} {value} is below {profile.min_side} for {family}")
    return problems
