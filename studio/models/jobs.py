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
    # What the job is about, for lists: "Koopa · image 3 of 8".
    title: str = Field(default="", max_length=200)
    payload: dict[str, Any] = json_field(dict)
    # None: any device that can run this kind picks it up (a batch spreads over every ComfyUI box).
    device: str | None = Field(default=None, max_length=32)
    # The project the work is for (None for studio-wide work), so pages can show one project's jobs.
    project_id: int | None = Field(default=None, foreign_key="projects.id", index=True, ondelete="CASCADE")
    # Jobs submitted together (one Generate click) share a batch id, so a page can follow them as one.
    batch: str | None = Field(default=None, max_length=32, index=True)
    priority: int = JobPriority.INTERACTIVE
    state: JobState = Field(default=JobState.QUEUED, max_length=16)
    attempts: int = 0
    max_attempts: int = 1
    # Times the job was put back in the queue because its backend lost it (a ComfyUI restart).
    requeues: int = 0
    progress: float = 0.0
    progress_message: str = Field(default="", max_length=500)
    result: dict[str, Any] | None = optional_json_field()
    error: str | None = None
    # The backend's handle, e.g. ComfyUI's prompt_id, so a restart can re-attach.
    external_handle: str | None = Field(default=None, max_length=100)
    # A worker identity: host (60) - install (8) / device (32) : app.
    claimed_by: str | None = Field(default=None, max_length=200)
    # Which device actually ran it (equals `device` when the job was pinned to one).
    ran_on: str | None = Field(default=None, max_length=32)
    gpu_seconds: float | None = None
    created_by: str = Field(default="studio", max_length=100)
    created_at: datetime = created_at_field()
    started_at: datetime | None = optional_time_field()
    finished_at: datetime | None = optional_time_field()
    updated_at: datetime = updated_at_field()
