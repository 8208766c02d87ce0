"""Model profiles and species rules: the data that drives model-aware prompts, editable by users."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from studio.models._base import json_field, updated_at_field


class ModelProfileRow(SQLModel, table=True):
    """A checkpoint family (matched by filename substring) and how to prompt it."""

    __tablename__ = "model_profiles"

    name: str = Field(primary_key=True, max_length=100)
    match: list[str] = json_field(list)
    priority: int = 100
    architecture: str = Field(default="sd15", max_length=16)
    prompt_format: str = Field(default="prose", max_length=16)
    quality_prefix: str = ""
    quality_negative: str = ""
    strip_style_tags: list[str] = json_field(list)
    solo_suffix: str = Field(default="solo", max_length=200)
    background_suffix: str = Field(default="", max_length=500)
    ip_adapter_model: str | None = Field(default=None, max_length=255)
    vision_hint: str = ""
    style_label: str = Field(default="", max_length=200)
    default_cfg: float = 7.0
    default_steps: int = 25
    default_sampler: str | None = Field(default=None, max_length=64)
    default_scheduler: str | None = Field(default=None, max_length=64)
    prediction_type: str = Field(default="epsilon", max_length=16)
    rescale_cfg: float | None = None
    min_side: int = 256
    max_side: int = 1024
    threshold_offset: float = 0.0
    # Built-in rows are re-created if deleted and can be reset; user edits are kept across upgrades.
    builtin: bool = False
    updated_at: datetime = updated_at_field()


class SpeciesRuleRow(SQLModel, table=True):
    """Species-specific negatives and the verification question a review asks."""

    __tablename__ = "species_rules"

    name: str = Field(primary_key=True, max_length=100)
    keywords: list[str] = json_field(list)
    non_human: bool = True
    negatives: list[str] = json_field(list)
    verification_question: str = ""
    look_for: list[str] = json_field(list)
    wrong_if: list[str] = json_field(list)
    builtin: bool = False
    updated_at: datetime = updated_at_field()
