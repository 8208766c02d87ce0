"""Autonomy: each project's autopilot switches, per-character targets, the orchestrator's phase state and
overrides, drift alerts, and the decision log every loop writes (the earlier system kept all of this in module
globals, so a restart forgot it).

Times here come from the studio's injected clock (the loops' cooldowns and daily limits are computed from
them), never from the database's or Python's own now.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from studio.models._base import UtcDateTime, json_field, optional_time_field


def _clock_time() -> Any:
    return Field(sa_column=Column(UtcDateTime(timezone=True), nullable=False))


class Autopilot(SQLModel, table=True):
    """One project's autonomy switches. No row: everything off (the default)."""

    __tablename__ = "autopilots"

    project_id: int = Field(primary_key=True, foreign_key="projects.id", ondelete="CASCADE")
    # Replenishment, learned parameters and drift alerts for the project's characters.
    enabled: bool = False
    # The riskier parts, each switched on separately.
    auto_correction: bool = False
    orchestrator: bool = False
    # Approved images each character should have; a character's own target wins.
    default_target: int = 40
    # A failing backend pauses the project's loops until `paused_until` (or a person resumes them).
    paused_reason: str | None = None
    paused_until: datetime | None = optional_time_field()
    updated_by: str = Field(default="studio", max_length=100)
    updated_at: datetime = _clock_time()


class CharacterTarget(SQLModel, table=True):
    """A character's own approved-image target (overrides its project's default)."""

    __tablename__ = "character_targets"

    character_id: int = Field(primary_key=True, foreign_key="characters.id", ondelete="CASCADE")
    target: int


class PipelineState(SQLModel, table=True):
    """Where the orchestrator last found a project or a character: its phase, the gate's verdict and the
    action it launched (its job), so a restart neither loses nor repeats it. One row per entity."""

    __tablename__ = "pipeline_states"
    __table_args__ = (UniqueConstraint("entity", "entity_id", name="uq_pipeline_states_entity"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="projects.id", index=True, ondelete="CASCADE")
    entity: str = Field(max_length=16)  # project | character
    entity_id: int
    phase: str = Field(max_length=32)
    status: str = Field(max_length=16)  # acting | waiting | blocked | failed | done
    detail: str = ""  # the gate's sentence or the reason it waits
    job_id: int | None = Field(default=None, foreign_key="jobs.id", ondelete="SET NULL")
    # What the launched action was about (a scene id, a training run id ...), to check it after a restart.
    subject: str | None = Field(default=None, max_length=100)
    # How often the current phase's action was launched without its gate passing (caps QC regeneration).
    attempts: int = 0
    updated_at: datetime = _clock_time()


class PipelineOverride(SQLModel, table=True):
    """A person's override of one phase: skipped, or marked complete (a reset deletes the rows)."""

    __tablename__ = "pipeline_overrides"
    __table_args__ = (UniqueConstraint("entity", "entity_id", "phase", name="uq_pipeline_overrides_phase"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="projects.id", index=True, ondelete="CASCADE")
    entity: str = Field(max_length=16)
    entity_id: int
    phase: str = Field(max_length=32)
    mode: str = Field(max_length=16)  # skip | complete
    actor: str = Field(max_length=100)
    at: datetime = _clock_time()


class AutonomyDecision(SQLModel, table=True):
    """One decision of an autonomous loop with its reason: an action launched, a wait, a gate's verdict.

    `count` is how many images an action launched, so daily limits are a SUM over today's rows.
    """

    __tablename__ = "autonomy_decisions"
    __table_args__ = (
        Index("ix_autonomy_decisions_project_at", "project_id", "at"),
        Index("ix_autonomy_decisions_character_loop", "character_id", "loop", "outcome", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _clock_time()
    project_id: int | None = Field(default=None, foreign_key="projects.id", ondelete="CASCADE")
    character_id: int | None = Field(default=None, foreign_key="characters.id", ondelete="CASCADE")
    # replenishment | correction | orchestrator | drift | autopilot
    loop: str = Field(max_length=16)
    # generate | correct | train | register | plan | prepare | render | qc | assemble | episode | publish |
    # gate | wait | pause | resume | override | alert ...
    action: str = Field(max_length=32)
    outcome: str = Field(max_length=16)  # acted | waiting | blocked | failed | done
    phase: str | None = Field(default=None, max_length=32)
    reason: str = ""
    count: int = 0
    job_id: int | None = Field(default=None, foreign_key="jobs.id", ondelete="SET NULL")
    image_id: int | None = Field(default=None, foreign_key="images.id", ondelete="SET NULL")
    actor: str = Field(default="autopilot", max_length=100)
    data: dict[str, Any] = json_field(dict)


class DriftAlert(SQLModel, table=True):
    """A character whose recent approval rate or score fell below its history. Open until it recovers."""

    __tablename__ = "drift_alerts"
    __table_args__ = (Index("ix_drift_alerts_open", "resolved_at", "project_id"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="projects.id", ondelete="CASCADE")
    character_id: int = Field(foreign_key="characters.id", index=True, ondelete="CASCADE")
    detected_at: datetime = _clock_time()
    recent_approval: float
    overall_approval: float
    recent_score: float | None = None
    overall_score: float | None = None
    recent_samples: int
    reason: str = ""
    resolved_at: datetime | None = optional_time_field()
