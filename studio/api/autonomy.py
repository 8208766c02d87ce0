"""REST routes for the autopilot: a project's switches and approved-image targets, its pipeline (each phase's
gate and the action it is taking or why it waits), a person's override of a phase, and the decision log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from services.autonomy import AutopilotChanges, AutopilotView
from services.autonomy.log import Loop, Outcome
from services.autonomy.pipeline import (
    CHARACTER_PHASES,
    PROJECT_PHASES,
    Entity,
    EntityPipeline,
    EntityStatus,
    OverrideMode,
    PhaseStatus,
    PipelineView,
)
from services.errors import Invalid, NotFound
from studio.api.deps import current_principal
from studio.api.errors import errors
from studio.auth import Principal
from studio.ids import RowId
from studio.root import Studio

Caller = Annotated[Principal, Depends(current_principal)]
MAX_DECISIONS = 500


class CharacterTargetOut(BaseModel):
    character_id: int
    target: int = Field(description="Approved images the autopilot keeps it at.")
    own: bool = Field(description="True: the character's own target; false: the project's default.")


class AutopilotOut(BaseModel):
    project_id: int
    enabled: bool = Field(description="Autonomy: replenishment, learned parameters and drift alerts.")
    auto_correction: bool = Field(description="Rejected images are regenerated with a corrected recipe.")
    orchestrator: bool = Field(description="Characters and the project are walked phase by phase to an episode.")
    default_target: int = Field(description="Approved images per character unless it has its own target.")
    paused: bool = Field(description="True while a failure's pause holds the project's loops.")
    paused_reason: str | None = Field(description="Why the loops were paused (the failed job and its error).")
    paused_until: datetime | None = Field(description="When the pause ends by itself (UTC).")
    targets: list[CharacterTargetOut] = Field(description="Every live character's effective target.")
    updated_by: str
    updated_at: datetime

    @classmethod
    def of(cls, view: AutopilotView) -> AutopilotOut:
        row = view.settings
        return cls(
            project_id=row.project_id,
            enabled=row.enabled,
            auto_correction=row.auto_correction,
            orchestrator=row.orchestrator,
            default_target=row.default_target,
            paused=view.paused,
            paused_reason=row.paused_reason if view.paused else None,
            paused_until=row.paused_until if view.paused else None,
            targets=[
                CharacterTargetOut(character_id=cid, target=target, own=cid in view.own_targets)
                for cid, target in sorted(view.targets.items())
            ],
            updated_by=row.updated_by,
            updated_at=row.updated_at,
        )


class PhaseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    phase: str
    label: str
    status: PhaseStatus = Field(description="done, current, pending or skipped.")
    gate: str = Field(description='The gate\'s sentence, e.g. "Koopa has 34 of 100 approved images".')
    passed: bool | None = Field(description="Whether the gate holds; null: not evaluated (a later phase).")
    override: str | None = Field(description="skip or complete when a person overrode the phase.")


class EntityPipelineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    entity: Entity
    entity_id: int
    name: str
    phase: str = Field(description="The current phase.")
    status: EntityStatus = Field(
        description="acting (its job runs), waiting (a guard holds it: cooldown, daily limit, pause), blocked "
        "(its gate needs a person or the characters), failed, done, or off (the orchestrator is off)."
    )
    detail: str = Field(description='What it is doing or why it waits, e.g. "cooldown until 14:05 UTC".')
    job_id: int | None = Field(description="The job of the action it launched, while there is one.")
    phases: list[PhaseOut]
    updated_at: datetime | None


class PipelineOut(BaseModel):
    project_id: int
    autopilot: AutopilotOut
    project: EntityPipelineOut
    characters: list[EntityPipelineOut]

    @classmethod
    def of(cls, view: PipelineView) -> PipelineOut:
        return cls(
            project_id=view.project_id,
            autopilot=AutopilotOut.of(view.autopilot),
            project=_entity_out(view.project),
            characters=[_entity_out(c) for c in view.characters],
        )


def _entity_out(entity: EntityPipeline) -> EntityPipelineOut:
    return EntityPipelineOut.model_validate(entity)


class OverrideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entity: Entity = Field(description="project, or character (one of the project's characters).")
    entity_id: RowId | None = Field(
        None, description="The character's id; for the project, its id or nothing (the project in the address)."
    )
    phase: str = Field(min_length=1, max_length=32, description="A phase of that kind of entity.")
    mode: OverrideMode = Field(
        description="skip: pass the phase over; complete: treat its gate as passed; reset: undo both."
    )

    @field_validator("phase")
    @classmethod
    def _phase_of_entity(cls, phase: str, info: ValidationInfo) -> str:
        entity = info.data.get("entity")
        if entity is None:  # the entity itself is invalid: that error says enough
            return phase
        phases = CHARACTER_PHASES if entity == "character" else PROJECT_PHASES
        if phase not in phases:
            raise ValueError(f"a {entity}'s phases are {', '.join(phases)}")
        return phase


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:  # year 1 an hour east of UTC is before year 1 in UTC
        raise ValueError("is not a time a decision can have") from exc


class DecisionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime = Field(description="The studio clock's time of the decision (UTC).")
    project_id: int | None
    character_id: int | None
    loop: str = Field(description="replenishment, correction, orchestrator, drift or autopilot.")
    action: str = Field(description="What it did or considered: generate, train, render, wait, pause ...")
    outcome: str = Field(description="acted, waiting, blocked, failed or done.")
    phase: str | None
    reason: str = Field(description="Why, in a sentence.")
    count: int = Field(description="Images the action launched (what daily limits count).")
    job_id: int | None
    image_id: int | None
    actor: str
    data: dict[str, Any]


When = Annotated[AwareDatetime, AfterValidator(_in_utc)]


def autonomy_router(studio: Studio) -> APIRouter:
    router = APIRouter(tags=["autonomy"])
    autonomy = studio.autonomy

    @router.get("/projects/{project_id}/autopilot", response_model=AutopilotOut, responses=errors(404))
    async def get_autopilot(project_id: RowId, _: Caller) -> AutopilotOut:
        """The project's autopilot: its switches (all off until someone switches them on), the pause a failed job
        set, the default target and every live character's approved-image target."""
        return AutopilotOut.of(await autonomy.config.get(project_id))

    @router.put("/projects/{project_id}/autopilot", response_model=AutopilotOut, responses=errors(404, 422))
    async def change_autopilot(project_id: RowId, body: AutopilotChanges, caller: Caller) -> AutopilotOut:
        """Change the switches, the default target or characters' own targets (null puts a character back on the
        default); only the fields sent change. `resume: true` ends a pause now. 422: a target out of range or a
        character that is not a live character of this project."""
        return AutopilotOut.of(await autonomy.config.update(project_id, body, caller.name))

    @router.get("/projects/{project_id}/pipeline", response_model=PipelineOut, responses=errors(404))
    async def get_pipeline(project_id: RowId, _: Caller) -> PipelineOut:
        """Where the project and each character stand: every phase with its gate, the current phase, and the
        action it is taking or why it waits or is blocked (with its job)."""
        return PipelineOut.of(await autonomy.orchestrator.pipeline(project_id))

    @router.post("/projects/{project_id}/pipeline/override", response_model=PipelineOut, responses=errors(404, 422))
    async def override_phase(project_id: RowId, body: OverrideIn, caller: Caller) -> PipelineOut:
        """Skip a phase, mark it complete, or reset it (drop a person's skip or complete) for the project or one of
        its characters. 404: no such project, or no such live character in it. 422: a phase of the other kind
        of entity, or an unknown one."""
        entity_id = await _entity_of(studio, project_id, body)
        view = await autonomy.orchestrator.override(
            project_id, body.entity, entity_id, body.phase, body.mode, caller.name
        )
        return PipelineOut.of(view)

    @router.get("/autonomy/decisions", response_model=list[DecisionOut], responses=errors(422))
    async def list_decisions(
        _: Caller,
        project_id: Annotated[RowId | None, Query(description="Only this project's decisions.")] = None,
        character_id: Annotated[RowId | None, Query(description="Only this character's decisions.")] = None,
        loop: Annotated[list[Loop] | None, Query(description="Only these loops (repeat for several).")] = None,
        outcome: Annotated[list[Outcome] | None, Query(description="Only these outcomes (repeat for several).")] = None,
        since: Annotated[When | None, Query(description="At or after this time (with its time zone).")] = None,
        until: Annotated[When | None, Query(description="Before this time (with its time zone).")] = None,
        before_id: Annotated[RowId | None, Query(description="Older than this decision: the next page.")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_DECISIONS)] = 100,
    ) -> list[Any]:
        """Every decision the autonomous loops made, newest first, each with its reason. Page back with
        `before_id` = the last id of a page."""
        return await autonomy.log.list(
            project_id=project_id,
            character_id=character_id,
            loops=loop or (),
            outcomes=outcome or (),
            since=since,
            until=until,
            before_id=before_id,
            limit=limit,
        )

    return router


async def _entity_of(studio: Studio, project_id: int, body: OverrideIn) -> int:
    """The id the override is for. NotFound: no such project, or no live character of it by that id; Invalid (as
    a 422 field error): a project override naming another project."""
    await studio.autonomy.config.get(project_id)  # NotFound for a project that does not exist
    if body.entity == "project":
        if body.entity_id not in (None, project_id):
            raise Invalid("entity_id", f"a project override is for the project in the address ({project_id})")
        return project_id
    if body.entity_id is None:
        raise Invalid("entity_id", "a character override names the character's id")
    character = await studio.characters.get(body.entity_id)
    if character.project_id != project_id or character.deleted_at is not None:
        raise NotFound(f"character {body.entity_id} is not a live character of project {project_id}")
    return body.entity_id
