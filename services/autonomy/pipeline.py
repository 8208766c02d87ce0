"""The orchestrator's phases and how a project's pipeline is shown (the Autopilot page and
`GET /api/projects/{id}/pipeline`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from services.autonomy.config import AutopilotView

CHARACTER_PHASES = ("training_data", "lora_training", "ready")
PROJECT_PHASES = (
    "scene_planning",
    "shot_preparation",
    "video_generation",
    "video_qc",
    "scene_assembly",
    "episode_assembly",
    "publishing",
    "published",
)
PHASE_LABELS = {
    "training_data": "Training data",
    "lora_training": "LoRA training",
    "ready": "Ready",
    "scene_planning": "Scene planning",
    "shot_preparation": "Shot preparation",
    "video_generation": "Video generation",
    "video_qc": "Video QC",
    "scene_assembly": "Scene assembly",
    "episode_assembly": "Episode assembly",
    "publishing": "Publishing",
    "published": "Published",
}

Entity = Literal["project", "character"]
OverrideMode = Literal["skip", "reset", "complete"]
# acting: its action's job runs; waiting: a guard holds it (cooldown, limit, pause); blocked: its gate needs
# something it cannot do itself (a person, or the characters); failed: its action failed; done: nothing left.
EntityStatus = Literal["acting", "waiting", "blocked", "failed", "done", "off"]
PhaseStatus = Literal["done", "current", "pending", "skipped"]


@dataclass(frozen=True)
class PhaseView:
    phase: str
    label: str
    status: PhaseStatus
    gate: str  # the gate's sentence: "Koopa has 34 of 100 approved images"
    passed: bool | None  # None: not evaluated (a phase after the current one)
    override: str | None = None  # skip | complete, set by a person


@dataclass(frozen=True)
class EntityPipeline:
    entity: Entity
    entity_id: int
    name: str
    phase: str  # the current phase
    status: EntityStatus
    detail: str  # what it is doing, or why it waits ("cooldown until 14:05 UTC")
    job_id: int | None
    phases: list[PhaseView]
    updated_at: datetime | None


@dataclass(frozen=True)
class PipelineView:
    project_id: int
    autopilot: AutopilotView
    project: EntityPipeline
    characters: list[EntityPipeline]
