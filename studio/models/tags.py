"""Image tags and the undo log of tag edits.

Every source (prompt, tagger, ComfyUI, LLM, person) keeps its own rows, so re-tagging one source replaces only
that source's rows. A person's edits are rows of source "person": an added tag, or a removal (`removed` true)
that hides the machine rows of that tag on that image. Machine rows carry `removed` too, copied from the
person's removal, so the effective tags of an image are simply its rows that are not removed, and the
frequency list is one indexed GROUP BY.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from studio.models._base import created_at_field, json_field, optional_time_field


class TagSource(StrEnum):
    PROMPT = "prompt"
    TAGGER = "tagger"
    COMFYUI = "comfyui"
    LLM = "llm"
    PERSON = "person"


class TagCategory(StrEnum):
    """The WD14 `selected_tags.csv` categories (0, 4 and 9)."""

    GENERAL = "general"
    CHARACTER = "character"
    RATING = "rating"


class ImageTag(SQLModel, table=True):
    """One tag of one image from one source."""

    __tablename__ = "image_tags"
    __table_args__ = (
        # The frequency list and a character-wide rename read only this index.
        Index("ix_image_tags_frequency", "character_id", "removed", "tag", "image_id", "category"),
    )

    image_id: int = Field(foreign_key="images.id", primary_key=True, ondelete="CASCADE")
    tag: str = Field(primary_key=True, max_length=200)
    source: str = Field(primary_key=True, max_length=16)
    # The image's character, kept here so the frequency list never joins the images.
    character_id: int | None = Field(default=None, foreign_key="characters.id", ondelete="CASCADE")
    confidence: float | None = None
    category: str = Field(default=TagCategory.GENERAL.value, max_length=16)
    removed: bool = False


class TagEdit(SQLModel, table=True):
    """One person's edit of tags (a bulk edit, or the tags of one image), with what undoing it needs.

    The images it touched are its `tag_edit_images` rows (so an undo can tell whether a later edit touched one);
    `before` holds the person rows of `tags` on those images as they were ([image_id, tag, removed, category]);
    `captions_before` the captions a put replaced ({image_id: [caption, caption_source]}).
    """

    __tablename__ = "tag_edits"

    id: int | None = Field(default=None, primary_key=True)
    token: str = Field(max_length=32, unique=True)
    project_id: int = Field(foreign_key="projects.id", index=True, ondelete="CASCADE")
    character_id: int | None = Field(default=None, foreign_key="characters.id", index=True, ondelete="CASCADE")
    operation: str = Field(max_length=16)  # add, remove, replace, rename, put
    tag: str = Field(default="", max_length=200)
    new_tag: str | None = Field(default=None, max_length=200)
    actor: str = Field(max_length=100)
    images_changed: int = 0
    tags: list[str] = json_field(list)
    before: list[Any] = json_field(list)
    captions_before: dict[str, Any] = json_field(dict)
    undone_at: datetime | None = optional_time_field()
    created_at: datetime = created_at_field()


class TagEditImage(SQLModel, table=True):
    """An image one tag edit touched: the edit selects its images by these rows, and an undo is refused while a
    later edit that is not undone touched one of them."""

    __tablename__ = "tag_edit_images"
    __table_args__ = (Index("ix_tag_edit_images_image", "image_id", "edit_id"),)

    edit_id: int = Field(foreign_key="tag_edits.id", primary_key=True, ondelete="CASCADE")
    image_id: int = Field(foreign_key="images.id", primary_key=True, ondelete="CASCADE")
