"""Scenes and their shots: the timeline a story becomes, edited by hand or planned from the story."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import func
from sqlmodel import col, select

from services.errors import Conflict, Invalid, NotFound
from services.scenes.events import SceneChanged
from services.scenes.schemas import SceneChanges, SceneDraft, ShotChanges, ShotDraft
from studio.clock import Clock
from studio.db import Database
from studio.events import EventBus
from studio.models import ApprovalState, Character, DatasetImage, Project, Scene, Shot

# Proposes an engine for a shot (the selector, told which engines some device can run).
EngineProposer = Callable[[Shot], Awaitable[str]]
Row = TypeVar("Row")
GENERATING = "generating"


@dataclass(frozen=True)
class SceneSummary:
    scene: Scene
    shots: int
    seconds: float


class Scenes:
    def __init__(self, db: Database, events: EventBus, clock: Clock, propose_engine: EngineProposer) -> None:
        self._db = db
        self._events = events
        self._clock = clock
        self._propose_engine = propose_engine

    # --- scenes ---------------------------------------------------------------------------------

    async def list(self, project_id: int, include_deleted: bool = False) -> list[SceneSummary]:
        """The project's scenes in order, with their shot count and running time."""
        totals = (
            select(Shot.scene_id, func.count().label("n"), func.sum(Shot.duration_seconds).label("s"))
            .group_by(col(Shot.scene_id))
            .subquery()
        )
        query = (
            select(Scene, func.coalesce(totals.c.n, 0), func.coalesce(totals.c.s, 0.0))
            .outerjoin(totals, totals.c.scene_id == Scene.id)
            .where(Scene.project_id == project_id)
            .order_by(col(Scene.scene_number), col(Scene.created_at))
        )
        if not include_deleted:
            query = query.where(col(Scene.deleted_at).is_(None))
        async with self._db.session() as session:
            return [SceneSummary(scene, int(n), float(s)) for scene, n, s in (await session.exec(query)).all()]

    async def get(self, scene_id: uuid.UUID) -> Scene:
        async with self._db.session() as session:
            scene = await row_or_404(session, Scene, scene_id, "scene")
        return scene

    async def create(self, project_id: int, draft: SceneDraft, actor: str) -> Scene:
        """Add a scene at the end of the project. NotFound: no such project."""
        async with self._db.session() as session:
            if await session.get(Project, project_id) is None:
                raise NotFound(f"there is no project {project_id}")
            last = (
                await session.exec(select(func.max(Scene.scene_number)).where(Scene.project_id == project_id))
            ).one()
            scene = Scene(project_id=project_id, scene_number=(last or 0) + 1, **draft.model_dump())
            session.add(scene)
        await self._announce(actor, scene, "created")
        return scene

    async def update(self, scene_id: uuid.UUID, changes: SceneChanges, actor: str) -> Scene:
        """Change a scene; `deleted` False restores it, `scene_number` moves it. Conflict: it is generating."""
        values = changes.model_dump(exclude_unset=True)
        restore = values.pop("deleted", None)
        async with self._db.session() as session:
            scene = await row_or_404(session, Scene, scene_id, "scene")
            for key, value in values.items():
                setattr(scene, key, value)
            change = "updated"
            if restore is False and scene.deleted_at is not None:
                scene.deleted_at, change = None, "restored"
            elif restore is True:
                self._check_idle(scene)
                scene.deleted_at, change = self._clock.now(), "deleted"
            session.add(scene)
        await self._announce(actor, scene, change)  # type: ignore[arg-type]
        return scene

    async def delete(self, scene_id: uuid.UUID, actor: str) -> Scene:
        """Soft-delete a scene (restore with `deleted: false`). Conflict: it is generating."""
        return await self.update(scene_id, SceneChanges(deleted=True), actor)

    # --- shots ----------------------------------------------------------------------------------

    async def shots(self, scene_id: uuid.UUID) -> list[Shot]:
        query = select(Shot).where(Shot.scene_id == scene_id).order_by(col(Shot.shot_number))
        async with self._db.session() as session:
            return list((await session.exec(query)).all())

    async def shot(self, shot_id: uuid.UUID) -> Shot:
        async with self._db.session() as session:
            shot = await row_or_404(session, Shot, shot_id, "shot")
        return shot

    async def add_shot(self, scene_id: uuid.UUID, draft: ShotDraft, actor: str) -> Shot:
        """Add a shot at `position` (default: the end). Invalid: characters, speaker or source image."""
        scene = await self.get(scene_id)
        self._check_idle(scene)
        values = draft.model_dump(exclude={"position"})
        async with self._db.session() as session:
            await _check_shot(session, scene.project_id, values)
            count = (await session.exec(select(func.count()).where(Shot.scene_id == scene_id))).one()
            position = min(draft.position or count + 1, count + 1)
            shot = Shot(scene_id=scene_id, shot_number=position, **values)
            shot.source_image_path = await _source_path(session, shot.source_image_id)
            if shot.video_engine is None:
                shot.video_engine = await self._propose_engine(shot)
            ordered = list(
                await session.exec(select(Shot).where(Shot.scene_id == scene_id).order_by(col(Shot.shot_number)))
            )
            ordered.insert(position - 1, shot)
            await _renumber(session, ordered)
        await self._announce(actor, scene, "created", shot)
        return shot

    async def update_shot(self, shot_id: uuid.UUID, changes: ShotChanges, actor: str) -> Shot:
        """Change a shot. Invalid: characters, speaker or source image. Conflict: its scene is generating."""
        values = changes.model_dump(exclude_unset=True)
        if values.pop("clear_source", None):
            values["source_image_id"] = None
        async with self._db.session() as session:
            shot = await row_or_404(session, Shot, shot_id, "shot")
            scene = await session.get(Scene, shot.scene_id)
            self._check_idle(scene)  # type: ignore[arg-type]
            await _check_shot(session, scene.project_id, {**shot.model_dump(), **values})  # type: ignore[union-attr]
            for key, value in values.items():
                setattr(shot, key, value)
            shot.source_image_path = await _source_path(session, shot.source_image_id)
            if shot.video_engine is None:
                shot.video_engine = await self._propose_engine(shot)
            session.add(shot)
        await self._announce(actor, scene, "updated", shot)  # type: ignore[arg-type]
        return shot

    async def delete_shot(self, shot_id: uuid.UUID, actor: str) -> Shot:
        """Remove a shot; the shots after it move up. Returns it, so a page can offer to put it back."""
        async with self._db.session() as session:
            shot = await row_or_404(session, Shot, shot_id, "shot")
            scene = await session.get(Scene, shot.scene_id)
            self._check_idle(scene)  # type: ignore[arg-type]
            await session.delete(shot)
            await session.flush()
            rest = await session.exec(
                select(Shot).where(Shot.scene_id == shot.scene_id).order_by(col(Shot.shot_number))
            )
            await _renumber(session, list(rest))
        await self._announce(actor, scene, "deleted", shot)  # type: ignore[arg-type]
        return shot

    async def reorder(self, scene_id: uuid.UUID, shot_ids: list[uuid.UUID], actor: str) -> list[Shot]:
        """Put the scene's shots in this order. Invalid: the list is not exactly the scene's shots."""
        scene = await self.get(scene_id)
        self._check_idle(scene)
        async with self._db.session() as session:
            shots = {s.id: s for s in await session.exec(select(Shot).where(Shot.scene_id == scene_id))}
            if len(shot_ids) != len(shots) or set(shot_ids) != set(shots):
                raise Invalid("shot_ids", f"list every shot of the scene exactly once ({len(shots)} shots)")
            await _renumber(session, [shots[i] for i in shot_ids])
        await self._announce(actor, scene, "reordered")
        return await self.shots(scene_id)

    # --- helpers --------------------------------------------------------------------------------

    @staticmethod
    def _check_idle(scene: Scene) -> None:
        if scene.generation_status == GENERATING:
            raise Conflict(f"scene {scene.title or scene.id} is generating; cancel it or wait before editing it")

    async def _announce(self, actor: str, scene: Scene, change: str, shot: Shot | None = None) -> None:
        await self._events.emit(
            SceneChanged(
                actor=actor,
                scene_id=str(scene.id),
                project_id=scene.project_id,
                change=change,  # type: ignore[arg-type]
                label=f"{shot.shot_number} of {scene.title or 'untitled'}" if shot else (scene.title or "untitled"),
                shot_id=str(shot.id) if shot else None,
            )
        )


def scene_heading(scene: Scene) -> str:
    """How a scene is named in lists, chapters and the assistant's notes: "Scene 2: The Bridge"."""
    title = scene.title.strip()
    return f"Scene {scene.scene_number}: {title}" if title else f"Scene {scene.scene_number}"


async def row_or_404(session: object, table: type[Row], key: object, what: str) -> Row:
    """The row with this key, or NotFound naming it ("there is no shot ...")."""
    row = await session.get(table, key)  # type: ignore[attr-defined]
    if row is None:
        raise NotFound(f"there is no {what} {key}")
    return row


async def _renumber(session: object, ordered: list[Shot]) -> None:
    """Number shots 1..n in this order. Two passes: (scene, number) is unique at every step."""
    for index, shot in enumerate(ordered):
        shot.shot_number = -(index + 1)
        session.add(shot)  # type: ignore[attr-defined]
    await session.flush()  # type: ignore[attr-defined]
    for index, shot in enumerate(ordered):
        shot.shot_number = index + 1
        session.add(shot)  # type: ignore[attr-defined]


async def _check_shot(session: object, project_id: int, values: dict[str, object]) -> None:
    present = list(values.get("characters_present") or [])  # type: ignore[call-overload]
    if present:
        query = select(Character.id).where(
            col(Character.id).in_(present), Character.project_id == project_id, col(Character.deleted_at).is_(None)
        )
        known = set((await session.exec(query)).all())  # type: ignore[attr-defined]
        missing = [c for c in present if c not in known]
        if missing:
            raise Invalid("characters_present", f"characters {missing} are not (or no longer) in this project")
    speaker, line = values.get("dialogue_character_id"), str(values.get("dialogue_text") or "").strip()
    if line and speaker is None:
        raise Invalid("dialogue_character_id", "a dialogue line needs the character who says it")
    if speaker is not None and speaker not in present:
        raise Invalid("dialogue_character_id", "the speaking character must be one of the characters present")
    image_id = values.get("source_image_id")
    if image_id is not None:
        image = await session.get(DatasetImage, image_id)  # type: ignore[attr-defined]
        if image is None or image.project_id != project_id:
            raise Invalid("source_image_id", f"image {image_id} is not in this project's datasets")
        if image.approval_state != ApprovalState.APPROVED:
            raise Invalid(
                "source_image_id", f"image {image_id} is {image.approval_state.value}; pick an approved image"
            )


async def _source_path(session: object, image_id: int | None) -> str | None:
    if image_id is None:
        return None
    image = await session.get(DatasetImage, image_id)  # type: ignore[attr-defined]
    return image.file_path if image else None
