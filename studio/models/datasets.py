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


class DatasetImage(SQLModel, table=True):
    __tablename__ = "images"
    __table_args__ = (
        UniqueConstraint("character_id", "content_hash", name="uq_images_character_hash"),
        Index("ix_images_character_state", "character_id", "approval_state"),
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
    decided_by: str | None = Field(default=None, max_length=100)
    decided_at: datetime | None = optional_time_field()
    # Optimistic concurrency: a review decision names the version it saw, so two stations never both win.
    version: int = 1
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
