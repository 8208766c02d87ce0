"""Each project's autopilot: its switches (autonomy, auto-correction, the orchestrator), the approved-image
target of each character, and a pause a failing backend sets. All in the database: a restart changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import col, select

from services.autonomy.events import AutopilotChanged
from services.errors import Invalid, NotFound
from studio.clock import Clock
from studio.db import Database
from studio.events import EventBus
from studio.models import Autopilot, Character, CharacterTarget, Project

MAX_TARGET = 100_000


class AutopilotChanges(BaseModel):
    """What `PUT /api/projects/{id}/autopilot` sends: only the fields given change."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool | None = Field(None, description="Replenishment, learned parameters and drift alerts.")
    auto_correction: bool | None = Field(None, description="Regenerate rejected images with a corrected recipe.")
    orchestrator: bool | None = Field(None, description="Walk characters and the project to a published episode.")
    default_target: int | None = Field(None, ge=1, le=MAX_TARGET, description="Approved images per character.")
    targets: dict[int, int | None] | None = Field(
        None, description="Per character id: its own target (1-100000), or null to use the project's default."
    )
    resume: bool = Field(False, description="Resume loops paused after a failure, now.")


@dataclass(frozen=True)
class AutopilotView:
    """A project's autopilot as pages and the API show it."""

    settings: Autopilot
    targets: dict[int, int]  # every live character's effective target
    own_targets: dict[int, int]  # the characters with their own target
    paused: bool  # paused now (a failure's pause that has not run out)


class AutopilotConfig:
    def __init__(self, db: Database, events: EventBus, clock: Clock) -> None:
        self._db = db
        self._events = events
        self._clock = clock

    async def get(self, project_id: int) -> AutopilotView:
        """NotFound: no such project."""
        async with self._db.session() as session:
            if await session.get(Project, project_id) is None:
                raise NotFound(f"project {project_id} does not exist")
            row = await session.get(Autopilot, project_id)
            characters = (
                await session.exec(
                    select(Character.id).where(Character.project_id == project_id, col(Character.deleted_at).is_(None))
                )
            ).all()
            own = (
                await session.exec(
                    select(CharacterTarget.character_id, CharacterTarget.target)
                    .join(Character, col(Character.id) == CharacterTarget.character_id)
                    .where(Character.project_id == project_id)
                )
            ).all()
        settings = row or Autopilot(project_id=project_id, updated_at=self._clock.now())
        own_targets = {cid: target for cid, target in own}
        targets = {cid: own_targets.get(cid, settings.default_target) for cid in characters if cid is not None}
        return AutopilotView(settings, targets, own_targets, self.is_paused(settings))

    def is_paused(self, settings: Autopilot) -> bool:
        return settings.paused_until is not None and settings.paused_until > self._clock.now()

    async def update(self, project_id: int, changes: AutopilotChanges, actor: str) -> AutopilotView:
        """NotFound: no such project. Invalid: a target for a character of another project, or out of range."""
        view = await self.get(project_id)
        given = changes.model_dump(exclude_unset=True, exclude={"targets", "resume"})
        for character_id, target in (changes.targets or {}).items():
            if character_id not in view.targets:
                raise Invalid("targets", f"character {character_id} is not a live character of this project")
            if target is not None and not 1 <= target <= MAX_TARGET:
                raise Invalid("targets", f"a target is 1 to {MAX_TARGET} approved images")
        async with self._db.session() as session:
            row = await session.get(Autopilot, project_id)
            if row is None:
                row = Autopilot(project_id=project_id, updated_at=self._clock.now())
                session.add(row)
            for key, value in given.items():
                if value is not None:
                    setattr(row, key, value)
            if changes.resume:
                row.paused_reason = None
                row.paused_until = None
            row.updated_by = actor
            row.updated_at = self._clock.now()
            for character_id, target in (changes.targets or {}).items():
                own = await session.get(CharacterTarget, character_id)
                if target is None:
                    if own is not None:
                        await session.delete(own)
                elif own is None:
                    session.add(CharacterTarget(character_id=character_id, target=target))
                else:
                    own.target = target
        detail = ", ".join(f"{key} {value}" for key, value in given.items() if value is not None)
        if changes.targets:
            detail = ", ".join(filter(None, [detail, f"{len(changes.targets)} character target(s)"]))
        change = "resumed" if changes.resume else "switches"
        await self._events.emit(AutopilotChanged(actor=actor, project_id=project_id, change=change, detail=detail))
        return await self.get(project_id)

    async def pause(self, project_id: int, reason: str, minutes: float) -> None:
        """Pause a project's loops for `minutes` (a job they launched failed): no retry storm."""
        until: datetime = self._clock.now() + timedelta(minutes=minutes)
        async with self._db.session() as session:
            row = await session.get(Autopilot, project_id)
            if row is None:
                return
            row.paused_reason = reason
            row.paused_until = until
            row.updated_at = self._clock.now()
        await self._events.emit(
            AutopilotChanged(project_id=project_id, change="paused", detail=f"until {until:%H:%M} UTC: {reason}")
        )

    async def running(self) -> list[Autopilot]:
        """Every project whose autopilot is on (any switch) and not paused now."""
        query = select(Autopilot).where(
            (col(Autopilot.enabled)) | (col(Autopilot.orchestrator)) | (col(Autopilot.auto_correction))
        )
        async with self._db.session() as session:
            rows = list((await session.exec(query)).all())
        return [row for row in rows if not self.is_paused(row)]
