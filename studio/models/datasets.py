"""Dataset images and their approval state (the database replaces the earlier approval_status.json)."""

from __future__ import annotations

import math
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, UniqueConstraint, event
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


# The longest checkpoint, sampler or scheduler name kept in its column: an index entry holds all three, and
# PostgreSQL refuses entries over about 2.7 kB.
PARAMETER_LENGTH = 200
_INT_LIMIT = 2**31  # a PostgreSQL INTEGER's range


def generation_parameters(provenance: dict[str, Any] | None) -> dict[str, Any]:
    """The columns an image's provenance gives it: checkpoint, sampler and scheduler when they are text, steps
    (whole: a half rounds up) and cfg when they are finite numbers; None where the provenance has no such value.
    Migration 0018 fills existing rows by the same rule in SQL."""
    provenance = provenance or {}

    def text(key: str) -> str | None:
        value = provenance.get(key)
        return value[:PARAMETER_LENGTH] if isinstance(value, str) else None

    def number(key: str) -> float | None:
        value = provenance.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return None
        return float(value)

    steps = number("steps")
    whole = None if steps is None else math.floor(steps + 0.5)
    return {
        "checkpoint": text("checkpoint"),
        "sampler": text("sampler"),
        "scheduler": text("scheduler"),
        "steps": whole if whole is not None and -_INT_LIMIT < whole < _INT_LIMIT else None,
        "cfg": number("cfg"),
    }


class DatasetImage(SQLModel, table=True):
    __tablename__ = "images"
    __table_args__ = (
        UniqueConstraint("character_id", "content_hash", name="uq_images_character_hash"),
        Index("ix_images_character_state", "character_id", "approval_state"),
        Index("ix_images_project_state", "project_id", "approval_state", "id"),
        Index("ix_images_project_hash", "project_id", "content_hash"),
        # Analytics and learning (migration 0018). The wide ones hold every column their reports read (what makes
        # an image a reviewed fact, its state, score and parameters), so those reports read index entries rather
        # than the table's rows, which carry the provenance's kilobytes.
        # A character's newest decisions (drift's and learning's windows):
        Index("ix_images_character_decided", "character_id", "decided_at"),
        # A project's reports over time and its rankings:
        Index(
            "ix_images_project_decided",
            *("project_id", "decided_at", "character_id", "approval_state", "source", "decided_by", "quality_score"),
            *("checkpoint", "sampler", "scheduler", "steps", "cfg"),
        ),
        # Per character and checkpoint, in GROUP BY order (cross-project comparison, drift's totals, learning):
        Index(
            "ix_images_character_checkpoint",
            *("character_id", "checkpoint", "approval_state", "source", "decided_by", "decided_at", "quality_score"),
        ),
        # Every project's reports over time (quality, rejections and their newest sample):
        Index(
            "ix_images_state_decided",
            *("approval_state", "decided_at", "character_id", "source", "decided_by", "quality_score"),
        ),
        # An image's regenerations and corrections (lineage):
        Index("ix_images_derived_from", "derived_from_id"),
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
    # The provenance's generation parameters as plain columns (see generation_parameters), so learning and
    # analytics group and filter on them through indexes instead of reading every row's JSON.
    checkpoint: str | None = Field(default=None, max_length=PARAMETER_LENGTH)
    sampler: str | None = Field(default=None, max_length=PARAMETER_LENGTH)
    scheduler: str | None = Field(default=None, max_length=PARAMETER_LENGTH)
    steps: int | None = None  # whole steps
    cfg: float | None = None
    # Optimistic concurrency: a review decision names the version it saw, so two stations never both win.
    version: int = 1
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


@event.listens_for(DatasetImage, "before_insert")
def _parameters_from_provenance(_mapper: Any, _connection: Any, image: DatasetImage) -> None:
    # Every image written through a session gets its columns from its provenance, whichever code wrote it
    # (admission, the demo, seeded histories); the provenance is written once, so inserting is the one moment.
    for name, value in generation_parameters(image.provenance).items():
        setattr(image, name, value)


class ReviewDecision(SQLModel, table=True):
    """One approve/reject of one image, by a person or by the studio: the record learning and analytics read.

    `image_version` is the image's version right after this decision, so an undo can tell whether
    anything changed the image since (then the undo is refused instead of overwriting that change).
    """

    __tablename__ = "review_decisions"
    # Replenishment's "rejections in a row": each character's latest approval and the rejections after it.
    __table_args__ = (Index("ix_review_decisions_character_state", "character_id", "state", "id"),)

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
