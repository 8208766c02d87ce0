"""Training presets: kohya LoRA parameters per model family and GPU memory, and the overrides a run may set.

Values follow sd-scripts' own examples (docs/train_network.md, docs/sdxl_train_network.md) and what users report
fitting on a card: SDXL at 12 GB trains with batch 1, gradient checkpointing, cached latents and text-encoder
outputs (which requires training the U-Net only) and an 8-bit optimizer (sd-scripts #648, kohya_ss #1887).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from services.errors import Invalid, NotFound

Family = Literal["sd15", "sdxl"]
MAX_SAMPLE_PROMPTS = 8
# A preset fits a card that reports at least this share of its nominal memory (a "12 GB" card reports ~11.7 GiB).
MEMORY_SLACK = 0.9
MAX_PROMPT_CHARS = 500


class TrainingParams(BaseModel):
    """What a kohya LoRA training runs with (a preset, then the run's overrides)."""

    model_config = ConfigDict(extra="forbid")
    base_checkpoint: str = Field(description="The checkpoint the LoRA is trained on (file name or path).")
    family: Family = Field(description="sd15 or sdxl: which kohya script trains it and what the LoRA loads on.")
    family_label: str = Field(description="The finer family: SD 1.5, SDXL, Illustrious, Pony, NoobAI.")
    epochs: int = Field(ge=1, le=100)
    repeats: int = Field(ge=1, le=100, description="kohya's num_repeats: how often each image is seen per epoch.")
    rank: int = Field(ge=1, le=128, description="network_dim.")
    alpha: float = Field(ge=0.0, le=128.0, description="network_alpha.")
    learning_rate: float = Field(ge=1e-6, le=1e-2)
    unet_lr: float | None = Field(None, ge=1e-6, le=1e-2)
    text_encoder_lr: float | None = Field(None, ge=1e-6, le=1e-2)
    resolution: int = Field(ge=256, le=2048)
    batch_size: int = Field(ge=1, le=16)
    optimizer: str = Field(max_length=32, description="kohya's optimizer_type, e.g. AdamW8bit, Adafactor.")
    mixed_precision: Literal["no", "fp16", "bf16"]
    gradient_checkpointing: bool
    cache_latents: bool
    cache_text_encoder_outputs: bool
    network_train_unet_only: bool
    sample_prompts: list[str] = Field(
        default_factory=list,
        max_length=MAX_SAMPLE_PROMPTS,
        description="One sample image per prompt and epoch; empty: the studio's four views of the character.",
    )
    sample_seed: int = Field(1234, ge=0, le=2**31 - 1)
    sample_every_epochs: int = Field(1, ge=1, le=100)

    @field_validator("resolution")
    @classmethod
    def _multiple_of_64(cls, value: int) -> int:
        if value % 64:
            raise ValueError(f"resolution must be a multiple of 64 (kohya's buckets), not {value}")
        return value

    @field_validator("sample_prompts")
    @classmethod
    def _prompts(cls, value: list[str]) -> list[str]:
        prompts = [" ".join(p.split()) for p in value]
        for prompt in prompts:
            if not prompt:
                raise ValueError("a sample prompt is empty")
            if len(prompt) > MAX_PROMPT_CHARS:
                raise ValueError(f"a sample prompt is longer than {MAX_PROMPT_CHARS} characters")
            if " --" in f" {prompt}":
                # kohya reads " --x" inside a sample line as its own option (--n, --w, --d...).
                raise ValueError("a sample prompt may not contain ' --' (kohya reads it as an option)")
        return prompts


class TrainingOverrides(BaseModel):
    """What a run may change in its preset (`POST /api/characters/{id}/training-runs`, `overrides`)."""

    model_config = ConfigDict(extra="forbid")
    base_checkpoint: str | None = Field(
        None, min_length=1, max_length=255, description="Train on this checkpoint instead of the style's."
    )
    epochs: int | None = Field(None, ge=1, le=100)
    repeats: int | None = Field(None, ge=1, le=100)
    rank: int | None = Field(None, ge=1, le=128, description="network_dim; alpha follows at half of it.")
    learning_rate: float | None = Field(None, ge=1e-6, le=1e-2)
    resolution: int | None = Field(None, ge=256, le=2048, description="A multiple of 64.")
    sample_prompts: list[str] | None = Field(
        None, min_length=1, max_length=MAX_SAMPLE_PROMPTS, description="1-8 prompts of at most 500 characters."
    )

    @field_validator("resolution")
    @classmethod
    def _multiple_of_64(cls, value: int | None) -> int | None:
        if value is not None and value % 64:
            raise ValueError(f"resolution must be a multiple of 64, not {value}")
        return value

    @field_validator("sample_prompts")
    @classmethod
    def _prompts(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        for prompt in value:
            if not prompt.strip():
                raise ValueError("a sample prompt is empty")
            if len(prompt) > MAX_PROMPT_CHARS:
                raise ValueError(f"a sample prompt is longer than {MAX_PROMPT_CHARS} characters")
        return value


@dataclass(frozen=True)
class TrainingPreset:
    """A named set of parameters for one family on a card with `gpu_memory_gb` of memory."""

    name: str  # "sdxl-12gb"
    label: str  # "SDXL, 12 GB"
    gpu_memory_gb: int
    description: str  # what it trades, in one line
    params: TrainingParams


_BASES: dict[str, tuple[Family, str, str]] = {
    # key: (family, label, the usual base checkpoint of the family)
    "sd15": ("sd15", "SD 1.5", "v1-5-pruned-emaonly.safetensors"),
    "sdxl": ("sdxl", "SDXL", "sd_xl_base_1.0.safetensors"),
    "illustrious": ("sdxl", "Illustrious", "illustriousXL_v01.safetensors"),
    "pony": ("sdxl", "Pony", "ponyDiffusionV6XL.safetensors"),
    "noobai": ("sdxl", "NoobAI", "noobaiXLNAIXL_epsilonPred11Version.safetensors"),
}

# Per family and GB: (what changes from the family's base values, the one-line trade-off).
_SD15_TIERS: dict[int, tuple[dict[str, Any], str]] = {
    8: (
        {"batch_size": 1, "rank": 16, "gradient_checkpointing": True},
        "batch 1 with gradient checkpointing: fits 8 GB, trains slowest",
    ),
    12: ({"batch_size": 2, "rank": 16}, "batch 2, rank 16: the usual SD 1.5 character LoRA"),
    16: ({"batch_size": 4, "rank": 32, "gradient_checkpointing": False}, "batch 4, rank 32, no checkpointing: faster"),
    24: (
        {"batch_size": 6, "rank": 32, "gradient_checkpointing": False, "resolution": 768},
        "768 px at batch 6: more detail per image, needs 24 GB",
    ),
}
_SDXL_TIERS: dict[int, tuple[dict[str, Any], str]] = {
    8: (
        {"batch_size": 1, "rank": 8, "resolution": 768, "optimizer": "Adafactor"},
        "768 px, rank 8, Adafactor, U-Net only: squeezes SDXL into 8 GB at some loss of detail",
    ),
    12: (
        {"batch_size": 1, "rank": 16},
        "batch 1, gradient checkpointing, cached latents and text encoders, U-Net only: SDXL in 12 GB, slow",
    ),
    16: ({"batch_size": 2, "rank": 16}, "batch 2, U-Net only: faster than 12 GB, same quality"),
    24: (
        {
            "batch_size": 2,
            "rank": 32,
            "cache_text_encoder_outputs": False,
            "network_train_unet_only": False,
            "text_encoder_lr": 1e-5,
        },
        "rank 32 and the text encoders trained too: learns a trigger word better, needs 24 GB",
    ),
}


def _family_base(key: str) -> dict[str, Any]:
    family, label, checkpoint = _BASES[key]
    common: dict[str, Any] = {
        "base_checkpoint": checkpoint,
        "family": family,
        "family_label": label,
        "epochs": 10,
        "repeats": 10,
        "optimizer": "AdamW8bit",
        "cache_latents": True,
        "gradient_checkpointing": True,
    }
    if family == "sd15":
        return common | {
            "resolution": 512,
            "learning_rate": 1e-4,
            "mixed_precision": "fp16",
            "cache_text_encoder_outputs": False,
            "network_train_unet_only": False,
        }
    return common | {
        "resolution": 1024,
        "learning_rate": 1e-4,
        "unet_lr": 1e-4,
        "mixed_precision": "bf16",
        # Caching the text encoders' outputs requires training the U-Net only (sd-scripts' SDXL doc).
        "cache_text_encoder_outputs": True,
        "network_train_unet_only": True,
    }


def _build() -> dict[str, TrainingPreset]:
    presets: dict[str, TrainingPreset] = {}
    for key, (family, label, _checkpoint) in _BASES.items():
        tiers = _SD15_TIERS if family == "sd15" else _SDXL_TIERS
        for gigabytes, (changes, trade) in tiers.items():
            values = _family_base(key) | changes
            values["alpha"] = values["rank"] / 2
            name = f"{key}-{gigabytes}gb"
            presets[name] = TrainingPreset(
                name=name,
                label=f"{label}, {gigabytes} GB",
                gpu_memory_gb=gigabytes,
                description=trade,
                params=TrainingParams(**values),
            )
    return presets


PRESETS: dict[str, TrainingPreset] = _build()


def training_preset(name: str) -> TrainingPreset:
    """NotFound: no preset of that name (the message lists them)."""
    found = PRESETS.get(name)
    if found is None:
        raise NotFound(f"there is no training preset {name!r}; presets: {', '.join(PRESETS)}")
    return found


def preset(name: str) -> TrainingParams:
    """A copy of the preset's parameters. NotFound: no preset of that name."""
    return training_preset(name).params.model_copy(deep=True)


def apply_overrides(params: TrainingParams, overrides: dict[str, Any] | TrainingOverrides | None) -> TrainingParams:
    """The parameters with a run's overrides. Invalid (naming the field): an unknown field or a value out of
    range (epochs and repeats 1-100, rank 1-128, learning rate 1e-6-1e-2, resolution 256-2048 in steps of 64,
    1-8 sample prompts of at most 500 characters)."""
    try:
        checked = overrides if isinstance(overrides, TrainingOverrides) else TrainingOverrides(**(overrides or {}))
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(p) for p in ("overrides", *error["loc"]))
        raise Invalid(field, error["msg"].removeprefix("Value error, ")) from exc
    changes = checked.model_dump(exclude_none=True)
    if "rank" in changes:
        changes["alpha"] = changes["rank"] / 2
    try:
        return TrainingParams(**(params.model_dump() | changes))
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(p) for p in ("overrides", *error["loc"]))
        raise Invalid(field, error["msg"].removeprefix("Value error, ")) from exc


def presets_for(architecture: str | None, profile: str) -> list[TrainingPreset]:
    """Presets of a character's family (`architecture`: sd15 or sdxl), those of its finer family (the style's model
    profile: NoobAI, Pony...) first, then by memory."""
    profile = profile.lower()
    fitting = [p for p in PRESETS.values() if p.params.family == architecture]
    return sorted(fitting, key=lambda p: (p.params.family_label.lower() not in profile, p.gpu_memory_gb))


def preferred_preset(presets: list[TrainingPreset], memory_gb: float | None = None) -> TrainingPreset | None:
    """Of `presets_for`'s list, the finer family's preset for a card of `memory_gb`: the largest that fits it
    (a card reports a little less than its nominal size), or the 12 GB one, the common card, when the memory is
    unknown. None: no preset of the family, or none fits the card."""
    if not presets:
        return None
    family = presets[0].params.family_label
    same = [p for p in presets if p.params.family_label == family]
    if memory_gb is None:
        return next((p for p in same if p.gpu_memory_gb == 12), same[0])
    fits = [p for p in same if p.gpu_memory_gb * MEMORY_SLACK <= memory_gb]
    return fits[-1] if fits else None
