"""Dataset images and their approval state (the database replaces the earlier approval_status.json)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from studio.models._base import created_at_field, json_field, optional_time_field, updated_at_field


class ApprovalState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class DuplicateKind(StrEnum):
    EXACT = "exact"  # the same file (byte for byte) is already in the project
    NEAR = "near"  # a perceptual hash within the Hamming threshold of one already in the project


class VisionStatus(StrEnum):
    NONE = "none"  # no LLM with vision configured, or not reviewed yet
    QUEUED = "queued"
    DONE = "done"
    NEEDS_HUMAN = "needs_human"  # the review itself failed (invalid answers, server errors)


class Decider(StrEnum):
    """Who or what made a review decision: learning and analytics weigh them differently."""

    HUMAN = "human"
    DEDUP = "dedup"
    TRIAGE = "triage"
    VISION = "vision"


class DatasetImage(SQLModel, table=True):
    __tablename__ = "images"
    __table_args__ = (
        UniqueConstraint("character_id", "content_hash", name="uq_images_character_hash"),
        Index("ix_images_character_state", "character_id", "approval_state"),
        Index("ix_images_project_state", "project_id", "approval_state", "id"),
        Index("ix_images_project_hash", "project_id", "content_hash"),
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="projects.id", index=True, ondelete="CASCADE")
    character_id: int | None = Field(default=None, foreign_key="characters.id", ondelete="CASCADE")
    # Relative to the data dir; files are named by content hash.
    file_path: str = Field(max_length=500)
    content_hash: str = Field(max_length=64)
    perceptual_hash: str | None = Field(default=None, max_length=32, index=True)
    width: int
    height: int
    # upload, folder, video, url, comfyui_scan, generated
    source: str = Field(default="upload", max_length=32)
    source_ref: str = Field(default="", max_length=1000)
    approval_state: ApprovalState = Field(default=ApprovalState.PENDING, max_length=16)
    quality_score: float | None = None
    provenance: dict[str, Any] = json_field(dict)
    triage: dict[str, Any] = json_field(dict)
    review: dict[str, Any] = json_field(dict)
    duplicate_of_id: int | None = Field(default=None, foreign_key="images.id", ondelete="SET NULL")
    duplicate_kind: DuplicateKind | None = Field(default=None, max_length=8)
    duplicate_distance: int | None = None
    # The triage flags as ",blurry,small," so the review grid can filter on them on both databases.
    triage_flags: str = Field(default="", max_length=200)
    vision_status: VisionStatus = Field(default=VisionStatus.NONE, max_length=16)
    rejection_categories: list[str] = json_field(list)
    # A regeneration from a rejected image links back to it.
    derived_from_id: int | None = Field(default=None, foreign_key="images.id", ondelete="SET NULL")
    # A prose caption for profiles whose prompt format is prose; caption_source says who wrote it ("llm", "person").
    caption: str = ""
    caption_source: str = Field(default="", max_length=16)
    decided_by: str | None = Field(default=None, max_length=100)
    decided_at: datetime | None = optional_time_field()
    # Optimistic concurrency: a review decision names the version it saw, so two stations never both win.
    version: int = 1
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class ReviewDecision(SQLModel, table=True):
    """One approve/reject of one image, by a person or by the studio: the record learning and analytics read.

    `image_version` is the image's version right after this decision, so an undo can tell whether
    anything changed the image since (then the undo is refused instead of overwriting that change).
    """

    __tablename__ = "review_decisions"

    id: int | None = Field(default=None, primary_key=True)
    image_id: int = Field(foreign_key="images.id", index=True, ondelete="CASCADE")
    project_id: int = Field(foreign_key="projects.id", index=True, ondelete="CASCADE")
    character_id: int | None = Field(default=None, foreign_key="characters.id", index=True, ondelete="SET NULL")
    previous_state: ApprovalState = Field(max_length=16)
    state: ApprovalState = Field(max_length=16)
    decider: Decider = Field(max_length=16)
    actor: str = Field(max_length=100)
    categories: list[str] = json_field(list)
    reasons: list[str] = json_field(list)
    quality_score: float | None = None
    image_version: int
    undone_at: datetime | None = optional_time_field()
    created_at: datetime = created_at_field()
