"""Projects with their storyline and world settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from services.bible.events import BibleChanged
from services.bible.schemas import ProjectChanges, ProjectDraft, StorylineDraft, WorldDraft
from services.errors import Conflict, Invalid, NotFound
from studio.clock import Clock
from studio.db import Database
from studio.events import EventBus
from studio.models import Character, GenerationStyle, Project, Storyline, WorldSettings

# The one-per-project sheets of the bible.
Sheet = TypeVar("Sheet", Storyline, WorldSettings)


@dataclass(frozen=True)
class ProjectSummary:
    project: Project
    characters: int


class Projects:
    def __init__(self, db: Database, events: EventBus, clock: Clock) -> None:
        self._db = db
        self._events = events
        self._clock = clock

    async def list(self, include_archived: bool = False) -> list[ProjectSummary]:
        counts = (
            select(Character.project_id, func.count().label("n"))
            .where(col(Character.deleted_at).is_(None))
            .group_by(Character.project_id)
            .subquery()
        )
        query = (
            select(Project, func.coalesce(counts.c.n, 0))
            .outerjoin(counts, counts.c.project_id == Project.id)
            .order_by(col(Project.archived_at).is_not(None), func.lower(Project.name))
        )
        if not include_archived:
            query = query.where(col(Project.archived_at).is_(None))
        async with self._db.session() as session:
            return [ProjectSummary(p, int(n)) for p, n in (await session.exec(query)).all()]

    async def get(self, project_id: int) -> Project:
        async with self._db.session() as session:
            project = await session.get(Project, project_id)
        if project is None:
            raise NotFound(f"there is no project {project_id}")
        return project

    async def create(self, draft: ProjectDraft, actor: str) -> Project:
        """A new project with an empty storyline and world. Conflict: the name is taken."""
        project = Project(**draft.model_dump())
        try:
            async with self._db.session() as session:
                await self._check_name_free(session, draft.name)
                await self._check_style_exists(session, draft.default_style)
                session.add(project)
                await session.flush()
                assert project.id is not None
                session.add(Storyline(project_id=project.id))
                session.add(WorldSettings(project_id=project.id))
        except IntegrityError as exc:  # a concurrent create won the race past our check
            raise Conflict(f"a project named '{draft.name}' already exists") from exc
        await self._announce(actor, project, "created")
        return project

    async def update(self, project_id: int, changes: ProjectChanges, actor: str) -> Project:
        values = changes.model_dump(exclude_unset=True)
        archived = values.pop("archived", None)
        try:
            project, change = await self._apply(project_id, values, archived)
        except IntegrityError as exc:
            raise Conflict(f"a project named '{values.get('name')}' already exists") from exc
        await self._announce(actor, project, change)
        return project

    async def _apply(self, project_id: int, values: dict, archived: bool | None) -> tuple[Project, str]:
        async with self._db.session() as session:
            project = await session.get(Project, project_id)
            if project is None:
                raise NotFound(f"there is no project {project_id}")
            if "name" in values and values["name"] != project.name:
                await self._check_name_free(session, values["name"])
            if values.get("default_style") is not None:
                await self._check_style_exists(session, values["default_style"])
            for key, value in values.items():
                setattr(project, key, value)
            change = "updated"
            if archived is True and project.archived_at is None:
                project.archived_at, change = self._clock.now(), "archived"
            elif archived is False and project.archived_at is not None:
                project.archived_at, change = None, "restored"
            session.add(project)
        return project, change

    async def archive(self, project_id: int, actor: str) -> Project:
        """Soft delete: the project disappears from lists and can be restored with all its data."""
        return await self.update(project_id, ProjectChanges(archived=True), actor)

    async def restore(self, project_id: int, actor: str) -> Project:
        return await self.update(project_id, ProjectChanges(archived=False), actor)

    async def storyline(self, project_id: int) -> Storyline:
        return await self._sheet(Storyline, project_id)

    async def save_storyline(self, project_id: int, draft: StorylineDraft, actor: str) -> Storyline:
        return await self._save_sheet(Storyline, "storyline", project_id, draft, actor)

    async def world(self, project_id: int) -> WorldSettings:
        return await self._sheet(WorldSettings, project_id)

    async def save_world(self, project_id: int, draft: WorldDraft, actor: str) -> WorldSettings:
        return await self._save_sheet(WorldSettings, "world", project_id, draft, actor)

    async def _sheet(self, table: type[Sheet], project_id: int) -> Sheet:
        """The project's one row of `table` (storyline or world); an empty one before the first save."""
        async with self._db.session() as session:
            row = (await session.exec(select(table).where(table.project_id == project_id))).first()
        if row is None:
            await self.get(project_id)  # NotFound for a missing project
            return table(project_id=project_id)
        return row

    async def _save_sheet(
        self, table: type[Sheet], entity: str, project_id: int, draft: BaseModel, actor: str
    ) -> Sheet:
        project = await self.get(project_id)
        async with self._db.session() as session:
            row = (await session.exec(select(table).where(table.project_id == project_id))).first()
            row = row or table(project_id=project_id)
            for key, value in draft.model_dump().items():
                setattr(row, key, value)
            session.add(row)
        await self._events.emit(
            BibleChanged(
                actor=actor,
                entity=entity,
                entity_id=str(project_id),
                change="updated",  # type: ignore[arg-type]
                label=project.name,
                project_id=project_id,
            )
        )
        return row

    @staticmethod
    async def _check_name_free(session, name: str) -> None:
        taken = (await session.exec(select(Project.id).where(func.lower(Project.name) == name.lower()))).first()
        if taken is not None:
            raise Conflict(f"a project named '{name}' already exists (archived projects keep their names)")

    @staticmethod
    async def _check_style_exists(session, style: str | None) -> None:
        if style is not None and await session.get(GenerationStyle, style) is None:
            raise Invalid("default_style", f"there is no generation style named '{style}'")

    async def _announce(self, actor: str, project: Project, change: str) -> None:
        await self._events.emit(
            BibleChanged(
                actor=actor,
                entity="project",
                entity_id=str(project.id),
                change=change,  # type: ignore[arg-type]
                label=project.name,
                project_id=project.id,
            )
        )
