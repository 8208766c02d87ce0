"""Episodes: numbered lists of scenes, in order, with a transition at each boundary."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import func
from sqlmodel import col, delete, select

from services.episodes.events import EpisodeChanged
from services.episodes.schemas import EpisodeChanges, EpisodeDraft, EpisodeSceneEntry
from services.errors import Conflict, Invalid, NotFound
from services.jobs import JobDraft, JobQueue
from services.scenes.scenes import row_or_404
from studio.clock import Clock
from studio.db import Database
from studio.events import EventBus
from studio.models import Episode, EpisodeScene, Job, Project, Scene

JobSlot = Literal["assembly_job_id", "publish_job_id"]


@dataclass(frozen=True)
class EpisodeEntry:
    """One scene of an episode, in order, with the transition into the next scene."""

    link: EpisodeScene
    scene: Scene

    @property
    def seconds(self) -> float | None:
        return self.scene.actual_duration_seconds if self.scene.final_video_path else None


class Episodes:
    def __init__(self, db: Database, events: EventBus, clock: Clock, jobs: JobQueue) -> None:
        self._db = db
        self._events = events
        self._clock = clock
        self._jobs = jobs

    async def list(self, project_id: int, include_deleted: bool = False) -> list[Episode]:
        """The project's episodes by number."""
        query = select(Episode).where(Episode.project_id == project_id).order_by(col(Episode.episode_number))
        if not include_deleted:
            query = query.where(col(Episode.deleted_at).is_(None))
        async with self._db.session() as session:
            return list((await session.exec(query)).all())

    async def get(self, episode_id: uuid.UUID) -> Episode:
        async with self._db.session() as session:
            episode = await row_or_404(session, Episode, episode_id, "episode")
        return episode

    async def create(self, project_id: int, draft: EpisodeDraft, actor: str) -> Episode:
        """Add an episode (numbered after the last one unless a number is given).

        NotFound: no such project. Conflict: the number is taken."""
        async with self._db.session() as session:
            if await session.get(Project, project_id) is None:
                raise NotFound(f"there is no project {project_id}")
            number = draft.episode_number or await _next_number(session, project_id)
            await _check_number_free(session, project_id, number, None)
            episode = Episode(project_id=project_id, **draft.model_dump(exclude={"episode_number"}))
            episode.episode_number = number
            session.add(episode)
        await self.announce(actor, episode, "created")
        return episode

    async def update(self, episode_id: uuid.UUID, changes: EpisodeChanges, actor: str) -> Episode:
        """Change an episode; `deleted` True deletes it (undo with False).

        Conflict: the number is taken, or deleting an episode that is published or busy."""
        values = changes.model_dump(exclude_unset=True)
        deleted = values.pop("deleted", None)
        async with self._db.session() as session:
            episode = await row_or_404(session, Episode, episode_id, "episode")
            if values.get("episode_number") not in (None, episode.episode_number):
                await _check_number_free(session, episode.project_id, values["episode_number"], episode.id)
            for key, value in values.items():
                setattr(episode, key, value)
            change = "updated"
            if deleted is True and episode.deleted_at is None:
                if episode.publication is not None:
                    raise Conflict("this episode is published: unpublish it first, so no library keeps a lost copy")
                if episode.assembly_job_id is not None or episode.publish_job_id is not None:
                    raise Conflict("this episode is being assembled or published; wait for that or cancel it")
                episode.deleted_at, change = self._clock.now(), "deleted"
            elif deleted is False and episode.deleted_at is not None:
                episode.deleted_at, change = None, "restored"
            session.add(episode)
        await self.announce(actor, episode, change)
        return episode

    async def delete(self, episode_id: uuid.UUID, actor: str) -> Episode:
        """Soft-delete an episode (restore with `deleted: false`). Conflict: published or busy."""
        return await self.update(episode_id, EpisodeChanges(deleted=True), actor)

    async def restore(self, episode_id: uuid.UUID, actor: str) -> Episode:
        return await self.update(episode_id, EpisodeChanges(deleted=False), actor)

    # --- the scene list ---------------------------------------------------------------------------

    async def entries(self, episode_id: uuid.UUID) -> list[EpisodeEntry]:
        """The episode's scenes in order (deleted scenes included: the page says they are deleted)."""
        query = (
            select(EpisodeScene, Scene)
            .join(Scene, col(Scene.id) == EpisodeScene.scene_id)
            .where(EpisodeScene.episode_id == episode_id)
            .order_by(col(EpisodeScene.position))
        )
        async with self._db.session() as session:
            return [EpisodeEntry(link, scene) for link, scene in (await session.exec(query)).all()]

    async def set_scenes(
        self, episode_id: uuid.UUID, scenes: list[EpisodeSceneEntry], actor: str
    ) -> list[EpisodeEntry]:
        """Replace the episode's scene list with these scenes in this order.

        Invalid: a scene twice, a scene of another project or a deleted one. Conflict: it is assembling."""
        seen: set[uuid.UUID] = set()
        for i, entry in enumerate(scenes):
            if entry.scene_id in seen:
                raise Invalid(f"scenes.{i}.scene_id", "this scene is already in the episode; a scene plays once")
            seen.add(entry.scene_id)
        async with self._db.session() as session:
            episode = await row_or_404(session, Episode, episode_id, "episode")
            if episode.deleted_at is not None:
                raise Invalid("episode", "this episode is deleted; restore it first")
            if episode.assembly_job_id is not None:
                raise Conflict("this episode is being assembled; change its scenes when that is done")
            found = {s.id: s for s in await session.exec(select(Scene).where(col(Scene.id).in_(seen)))}
            for i, entry in enumerate(scenes):
                scene = found.get(entry.scene_id)
                if scene is None or scene.project_id != episode.project_id:
                    raise Invalid(f"scenes.{i}.scene_id", "there is no such scene in this episode's project")
                if scene.deleted_at is not None:
                    raise Invalid(f"scenes.{i}.scene_id", f"scene {scene.scene_number} is deleted; restore it first")
            await session.exec(delete(EpisodeScene).where(col(EpisodeScene.episode_id) == episode_id))
            await session.flush()
            for position, entry in enumerate(scenes, start=1):
                session.add(EpisodeScene(episode_id=episode_id, position=position, **entry.model_dump()))
            episode.updated_at = self._clock.now()
            session.add(episode)
        await self.announce(actor, episode, "scenes_set")
        return await self.entries(episode_id)

    # --- the episode's jobs (assembly and publishing: one of each at a time) -------------------------

    async def queue_job(self, episode: Episode, draft: JobDraft, slot: JobSlot, change: str, actor: str) -> Job:
        """Submit the job and remember it on the episode in `slot`, so the page can show and cancel it."""
        [job] = await self._jobs.submit([draft], actor)
        async with self._db.session() as session:
            row = await row_or_404(session, Episode, episode.id, "episode")
            setattr(row, slot, job.id)
            session.add(row)
        await self.announce(actor, episode, change)
        return job

    async def running_job(self, job_id: int | None) -> Job | None:
        """The job while it is queued or running (a finished, cancelled or lost one does not count)."""
        return await self._jobs.unfinished(job_id)

    async def job_ended(self, episode_id: uuid.UUID, slot: JobSlot, job_id: int | None) -> None:
        """Forget the job in `slot` once it has ended (if it is still the episode's job there)."""
        async with self._db.session() as session:
            row = await session.get(Episode, episode_id)
            if row is not None and getattr(row, slot) == job_id:
                setattr(row, slot, None)
                session.add(row)

    async def announce(self, actor: str, episode: Episode, change: str) -> None:
        """Tell the pages and the audit trail that the episode changed."""
        await self._events.emit(
            EpisodeChanged(
                actor=actor,
                episode_id=str(episode.id),
                project_id=episode.project_id,
                change=change,  # type: ignore[arg-type]
                label=episode_label(episode),
            )
        )


def episode_label(episode: Episode) -> str:
    return f"{episode.episode_number}. {episode.title or 'untitled'}"


async def _next_number(session: object, project_id: int) -> int:
    last = (
        await session.exec(  # type: ignore[attr-defined]
            select(func.max(Episode.episode_number)).where(Episode.project_id == project_id)
        )
    ).one()
    return (last or 0) + 1


async def _check_number_free(session: object, project_id: int, number: int, own: uuid.UUID | None) -> None:
    query = select(Episode).where(Episode.project_id == project_id, Episode.episode_number == number)
    taken = (await session.exec(query)).first()  # type: ignore[attr-defined]
    if taken is not None and taken.id != own:
        where = " (a deleted one: restore or renumber it)" if taken.deleted_at else ""
        raise Conflict(f"episode {number} already exists{where}; pick another number")
