"""The persistent job queue: every GPU (and long CPU) task is a row that survives restarts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from studio.models._base import (
    created_at_field,
    json_field,
    optional_json_field,
    optional_time_field,
    updated_at_field,
)


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class JobPriority:
    """Lower runs first: a user's click outranks the background loops."""

    INTERACTIVE = 0
    BACKGROUND = 10


class Job(SQLModel, table=True):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_claim", "state", "device", "priority", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=64)
    payload: dict[str, Any] = json_field(dict)
    device: str = Field(default="cpu", max_length=32)
    priority: int = JobPriority.INTERACTIVE
    state: JobState = Field(default=JobState.QUEUED, max_length=16)
    attempts: int = 0
    max_attempts: int = 1
    progress: float = 0.0
    progress_message: str = Field(default="", max_length=500)
    result: dict[str, Any] | None = optional_json_field()
    error: str | None = None
    # The backend's handle, e.g. ComfyUI's prompt_id, so a restart can re-attach.
    external_handle: str | None = Field(default=None, max_length=100)
    claimed_by: str | None = Field(default=None, max_length=100)
    created_by: str = Field(default="studio", max_length=100)
    created_at: datetime = created_at_field()
    started_at: datetime | None = optional_time_field()
    finished_at: datetime | None = optional_time_field()
    updated_at: datetime = updated_at_field()
