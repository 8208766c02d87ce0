"""What a user may send to create or change bible entries; shared by the pages and the REST API."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from services.changes import Changes
from services.errors import Invalid

ContentRating = Literal["G", "PG", "PG-13", "R", "NC-17"]
Gender = Literal["male", "female", "other", ""]
Architecture = Literal["sd15", "sdxl"]
PromptFormat = Literal["prose", "booru_tags"]

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Text = Annotated[str, StringConstraints(max_length=20_000)]
Phrase = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
# A sampler or scheduler as ComfyUI or A1111 names it ("dpmpp_2m_sde_gpu", "DPM++ 2M Karras").
SamplerName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]
StyleName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=r"^[\w][\w .-]*$")
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- projects ------------------------------------------------------------------------------------


class ProjectDraft(_Strict):
    name: Name
    description: Text = ""
    genre: Short = ""
    premise: Text = ""
    content_rating: ContentRating = "PG-13"
    default_style: StyleName | None = None
    frame_width: int = Field(1280, ge=320, le=3840, multiple_of=2)
    frame_height: int = Field(720, ge=240, le=2160, multiple_of=2)
    frame_rate: float = Field(24.0, ge=1, le=120)


class ProjectChanges(Changes):
    clearable = frozenset({"default_style"})  # null: no default style

    name: Name | None = None
    description: Text | None = None
    genre: Short | None = None
    premise: Text | None = None
    content_rating: ContentRating | None = None
    default_style: StyleName | None = None
    frame_width: int | None = Field(None, ge=320, le=3840, multiple_of=2)
    frame_height: int | None = Field(None, ge=240, le=2160, multiple_of=2)
    frame_rate: float | None = Field(None, ge=1, le=120)
    archived: bool | None = Field(None, description="false restores an archived project")


class StoryArc(_Strict):
    title: Name
    summary: Text = ""


class StorylineDraft(_Strict):
    title: Short = ""
    summary: Text = ""
    tone: Short = ""
    themes: list[Phrase] = Field(default_factory=list, max_length=50)
    humor_style: Short = ""
    story_arcs: list[StoryArc] = Field(default_factory=list, max_length=50)


class WorldDraft(_Strict):
    style_preamble: Text = ""
    art_style: Short = ""
    aesthetic: Short = ""
    color_palette: dict[Phrase, Phrase] = Field(default_factory=dict, max_length=50)
    cinematography: dict[Phrase, Phrase] = Field(default_factory=dict, max_length=50)
    world_location: dict[Phrase, Phrase] = Field(default_factory=dict, max_length=50)
    time_period: Short = ""
    production_notes: Text = ""
    known_issues: list[Phrase] = Field(default_factory=list, max_length=100)
    negative_prompt_guidance: Text = ""


# --- generation styles, model profiles, species rules -------------------------------------------


class StyleDraft(_Strict):
    name: StyleName
    checkpoint_model: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
    cfg_scale: float = Field(7.0, ge=1.0, le=30.0)
    steps: int = Field(30, ge=1, le=150)
    sampler: SamplerName = "DPM++ 2M Karras"
    scheduler: SamplerName | None = None
    width: int = Field(768, ge=256, le=2048)
    height: int = Field(768, ge=256, le=2048)
    positive_prompt_template: Text = ""
    negative_prompt_template: Text = ""
    model_architecture: Architecture | None = None
    prompt_format: PromptFormat | None = None
    # A file in ComfyUI's `vae` folder decoding instead of the checkpoint's own VAE; None (or "") keeps that one.
    vae: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None

    @field_validator("checkpoint_model")
    @classmethod
    def _a_file_name(cls, value: str) -> str:
        if _not_a_file_name(value):
            raise ValueError("give the checkpoint's file name only, e.g. noobaiXLVpred_v10.safetensors")
        return value

    @field_validator("vae")
    @classmethod
    def _a_vae_file_name(cls, value: str | None) -> str | None:
        if not value:
            return None
        if _not_a_file_name(value):
            raise ValueError("give the VAE's file name only, e.g. sdxl_vae.safetensors")
        return value


def _not_a_file_name(value: str) -> bool:
    """A path (ComfyUI resolves names inside its model folder, so a separator or a leading dot could leave it)."""
    return "/" in value or "\\" in value or value.startswith(".")


class ProfileDraft(_Strict):
    name: StyleName
    match: list[Phrase] = Field(default_factory=list, max_length=20)
    priority: int = Field(100, ge=0, le=10_000)
    architecture: Architecture = "sd15"
    prompt_format: PromptFormat = "prose"
    quality_prefix: Text = ""
    quality_negative: Text = ""
    strip_style_tags: list[Phrase] = Field(default_factory=list, max_length=200)
    solo_suffix: Short = "solo"
    background_suffix: Short = ""
    ip_adapter_model: Short | None = None
    vision_hint: Text = ""
    style_label: Short = ""
    default_cfg: float = Field(7.0, ge=1.0, le=30.0)
    default_steps: int = Field(25, ge=1, le=150)
    default_sampler: SamplerName | None = None
    default_scheduler: SamplerName | None = None
    prediction_type: Literal["epsilon", "v_prediction"] = "epsilon"
    rescale_cfg: float | None = Field(None, ge=0.0, le=1.0)
    min_side: int = Field(256, ge=64, le=4096, multiple_of=8)
    max_side: int = Field(1024, ge=64, le=4096, multiple_of=8)
    threshold_offset: float = Field(0.0, ge=-0.5, le=0.5)


class SpeciesRuleDraft(_Strict):
    name: StyleName
    keywords: list[Phrase] = Field(min_length=1, max_length=30)
    non_human: bool = True
    negatives: list[Phrase] = Field(default_factory=list, max_length=100)
    verification_question: Text = ""
    look_for: list[Phrase] = Field(default_factory=list, max_length=50)
    wrong_if: list[Phrase] = Field(default_factory=list, max_length=50)


# --- characters ---------------------------------------------------------------------------------


class AppearanceData(_Strict):
    species: Short = ""
    gender: Gender = ""
    body_type: Short = ""
    key_colors: dict[Phrase, Phrase] = Field(default_factory=dict, max_length=30)
    key_features: list[Phrase] = Field(default_factory=list, max_length=40)
    common_errors: list[Phrase] = Field(default_factory=list, max_length=40)
    negatives: list[Phrase] = Field(default_factory=list, max_length=100)
    voice: Short = ""


class CharacterDraft(_Strict):
    name: Name
    design_prompt: Annotated[str, StringConstraints(max_length=4000)] = ""
    appearance_data: AppearanceData = Field(default_factory=AppearanceData)


class CharacterChanges(Changes):
    name: Name | None = None
    design_prompt: Annotated[str, StringConstraints(max_length=4000)] | None = None
    appearance_data: AppearanceData | None = None
    deleted: bool | None = Field(None, description="false restores a deleted character")


def require_address_name(address: str, draft_name: str) -> None:
    """A PUT names its entry twice (address and body); they must agree, because entries are referenced by name."""
    if draft_name != address:
        raise Invalid("name", f"the body names '{draft_name}' but the address names '{address}'")


def slugify(name: str) -> str:
    """The studio's slug: lowercase, spaces to '_', only [a-z0-9_-] (as the earlier system did)."""
    slug = re.sub(r"[^a-z0-9_-]", "", name.strip().lower().replace(" ", "_"))
    return slug or "character"
