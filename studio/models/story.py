"""The creative bible: projects, generation styles, storylines, world settings and characters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from studio.models._base import (
    created_at_field,
    json_field,
    optional_time_field,
    updated_at_field,
)


class GenerationStyle(SQLModel, table=True):
    """How images are generated: checkpoint, sampler and prompt templates. Keyed by name, as in the seed."""

    __tablename__ = "generation_styles"

    name: str = Field(primary_key=True, max_length=100)
    checkpoint_model: str = Field(max_length=255)
    cfg_scale: float = 7.0
    steps: int = 30
    sampler: str = Field(default="DPM++ 2M Karras", max_length=64)
    scheduler: str | None = Field(default=None, max_length=64)
    width: int = 768
    height: int = 768
    positive_prompt_template: str = ""
    negative_prompt_template: str = ""
    # Overrides of the model profile matched from the checkpoint filename.
    model_architecture: str | None = Field(default=None, max_length=32)
    prompt_format: str | None = Field(default=None, max_length=32)
    # A VAE file to load instead of the checkpoint's own (None: the checkpoint's baked-in VAE).
    vae: str | None = Field(default=None, max_length=200)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class Project(SQLModel, table=True):
    __tablename__ = "projects"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True)
    description: str = ""
    genre: str = Field(default="", max_length=200)
    premise: str = ""
    content_rating: str = Field(default="PG-13", max_length=16)
    default_style: str | None = Field(default=None, foreign_key="generation_styles.name", ondelete="SET NULL")
    frame_width: int = 1280
    frame_height: int = 720
    frame_rate: float = 24.0
    # Tags that never reach a training caption, for every character of the project.
    tag_blacklist: list[str] = json_field(list)
    archived_at: datetime | None = optional_time_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class Storyline(SQLModel, table=True):
    __tablename__ = "storylines"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="projects.id", unique=True, ondelete="CASCADE")
    title: str = Field(default="", max_length=200)
    summary: str = ""
    tone: str = Field(default="", max_length=200)
    themes: list[str] = json_field(list)
    humor_style: str = Field(default="", max_length=200)
    story_arcs: list[dict[str, Any]] = json_field(list)
    updated_at: datetime = updated_at_field()


class WorldSettings(SQLModel, table=True):
    __tablename__ = "world_settings"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="projects.id", unique=True, ondelete="CASCADE")
    style_preamble: str = ""
    art_style: str = Field(default="", max_length=200)
    aesthetic: str = Field(default="", max_length=200)
    color_palette: dict[str, Any] = json_field(dict)
    cinematography: dict[str, Any] = json_field(dict)
    world_location: dict[str, Any] = json_field(dict)
    time_period: str = Field(default="", max_length=200)
    production_notes: str = ""
    known_issues: list[str] = json_field(list)
    negative_prompt_guidance: str = ""
    updated_at: datetime = updated_at_field()


class Character(SQLModel, table=True):
    """A character of one project. The slug is unique per project only (the earlier system collided)."""

    __tablename__ = "characters"
    __table_args__ = (UniqueConstraint("project_id", "slug", name="uq_characters_project_slug"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="projects.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=200)
    slug: str = Field(max_length=200)
    design_prompt: str = ""
    # species, key_colors, key_features, common_errors, gender ... (drives prompts and review).
    appearance_data: dict[str, Any] = json_field(dict)
    voice_profile: dict[str, Any] = json_field(dict)
    # Pinned first in every caption of this character's training images.
    trigger_word: str = Field(default="", max_length=100)
    # Added to the project's blacklist for this character's captions.
    tag_blacklist: list[str] = json_field(list)
    deleted_at: datetime | None = optional_time_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class ReferenceImage(SQLModel, table=True):
    """A reference picture of a character (drives IP-Adapter and the reviewer's comparison)."""

    __tablename__ = "reference_images"
    __table_args__ = (UniqueConstraint("character_id", "content_hash", name="uq_reference_images_hash"),)

    id: int | None = Field(default=None, primary_key=True)
    character_id: int = Field(foreign_key="characters.id", index=True, ondelete="CASCADE")
    # Relative to the data dir; named by content hash.
    file_path: str = Field(max_length=500)
    content_hash: str = Field(max_length=64)
    media_type: str = Field(max_length=32)
    width: int
    height: int
    original_name: str = Field(default="", max_length=255)
    position: int = 0
    created_at: datetime = created_at_field()
