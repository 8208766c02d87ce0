"""Publishing an assembled episode to a library (the folder library or Jellyfin) as a described TV episode.

An `episode.publish` job builds the release from the production (series plot from the storyline, cast
from the characters with their first reference picture, the episode's thumbnail and subtitles) and hands
it to the library, which writes Jellyfin's TV layout atomically. What it wrote is kept on the episode, so
publishing again replaces exactly that and unpublishing removes exactly that.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import col, select

from services.episodes.episodes import Episodes, episode_label
from services.errors import BackendUnavailable, Conflict, Invalid
from services.jobs import JobDraft, ProgressSink
from services.media_store import MediaStore
from services.publishing import CastMember, Library, Publication, Release
from services.scenes.scenes import row_or_404
from studio.clock import Clock
from studio.db import Database
from studio.models import Character, Episode, Job, JobPriority, Project, ReferenceImage, Storyline

EPISODE_PUBLISH_JOB = "episode.publish"
SEASON = 1
# How much of a character's design prompt stands in for its role in the cast list.
ROLE_CHARACTERS = 80


class EpisodePublishing:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        media: MediaStore,
        episodes: Episodes,
        libraries: dict[str, Library],
    ) -> None:
        self._db = db
        self._clock = clock
        self._media = media
        self._episodes = episodes
        self._libraries = libraries

    def libraries(self) -> list[Library]:
        """Where episodes can be published: the folder library always, Jellyfin when it is set up."""
        return list(self._libraries.values())

    async def start(
        self, episode_id: uuid.UUID, library: str, actor: str, priority: int = JobPriority.INTERACTIVE
    ) -> Job:
        """Queue publishing the episode to `library` (`priority`: the autopilot's is background work).
        Invalid: unknown library, deleted or not assembled.
        Conflict: it is already being published or assembled."""
        if library not in self._libraries:
            known = ", ".join(self._libraries)
            raise Invalid("library", f"there is no library '{library}' (set up: {known})")
        episode = await self._episodes.get(episode_id)
        if episode.deleted_at is not None:
            raise Invalid("episode", "this episode is deleted; restore it first")
        if not episode.final_video_path:
            raise Invalid("episode", "assemble the episode before publishing it")
        if await self.running_job(episode) is not None:
            raise Conflict("this episode is already being published")
        if episode.assembly_job_id is not None:
            raise Conflict("this episode is being assembled; publish it when that is done")
        draft = JobDraft(
            kind=EPISODE_PUBLISH_JOB,
            payload={"episode_id": str(episode.id), "library": library},
            title=f"Publish episode {episode_label(episode)} to {self._libraries[library].label}",
            priority=priority,
            project_id=episode.project_id,
        )
        return await self._episodes.queue_job(episode, draft, "publish_job_id", "publishing", actor)

    async def running_job(self, episode: Episode) -> Job | None:
        """The episode's publishing job while it is queued or running."""
        return await self._episodes.running_job(episode.publish_job_id)

    @staticmethod
    def out_of_date(episode: Episode) -> str | None:
        """Why the published copy differs from the assembled episode (None when it does not, or unpublished)."""
        if episode.publication and episode.publication.get("video") != episode.final_video_path:
            return "the episode was assembled again after it was published: publish it again to update the library"
        return None

    async def unpublish(self, episode_id: uuid.UUID, actor: str) -> tuple[Episode, str]:
        """Remove exactly what the last publish wrote. Invalid: not published. Conflict: it is publishing."""
        episode = await self._episodes.get(episode_id)
        if episode.publication is None:
            raise Invalid("episode", "this episode is not published")
        if await self.running_job(episode) is not None:
            raise Conflict("this episode is being published; wait for that or cancel it")
        publication = Publication.from_json(episode.publication)
        note = await self._library(publication.library).unpublish(publication)
        async with self._db.session() as session:
            row = await row_or_404(session, Episode, episode.id, "episode")
            row.publication, row.published_at = None, None
            row.status = "assembled" if row.final_video_path else "draft"
            session.add(row)
        await self._episodes.announce(actor, episode, "unpublished")
        return row, note

    # --- the job ----------------------------------------------------------------------------------

    async def run(self, job: Job, progress: ProgressSink) -> dict[str, Any]:
        episode_id = uuid.UUID(job.payload["episode_id"])
        try:
            return await self._publish(job, await self._episodes.get(episode_id), progress)
        finally:
            await self._episodes.job_ended(episode_id, "publish_job_id", job.id)

    async def _publish(self, job: Job, episode: Episode, progress: ProgressSink) -> dict[str, Any]:
        library = self._library(job.payload["library"])
        await progress(0.02, "describing the episode")
        release = await self.release(episode)
        previous = Publication.from_json(episode.publication) if episode.publication else None
        same_library = previous is not None and previous.library == library.kind

        async def publishing(fraction: float, message: str) -> None:
            await progress(0.05 + 0.95 * fraction, message)

        publication = await library.publish(release, previous if same_library else None, publishing)
        if previous is not None and not same_library:
            # Moved to another library: the old copy goes once the new one is in place.
            await self._library(previous.library).unpublish(previous)
        async with self._db.session() as session:
            row = await row_or_404(session, Episode, episode.id, "episode")
            row.publication = {**publication.to_json(), "video": episode.final_video_path}
            row.published_at = self._clock.now()
            row.status = "published"
            session.add(row)
        await self._episodes.announce(job.created_by or "studio", episode, "published")
        return publication.to_json()

    async def release(self, episode: Episode) -> Release:
        """Everything the library writes about the episode, read from the production."""
        if not (episode.final_video_path and episode.thumbnail_path):
            raise Invalid("episode", "assemble the episode before publishing it")
        async with self._db.session() as session:
            project = await row_or_404(session, Project, episode.project_id, "project")
            storyline = (await session.exec(select(Storyline).where(Storyline.project_id == project.id))).first()
            characters = list(
                await session.exec(
                    select(Character)
                    .where(Character.project_id == project.id, col(Character.deleted_at).is_(None))
                    .order_by(col(Character.id))
                )
            )
            pictures = list(
                await session.exec(
                    select(ReferenceImage)
                    .where(col(ReferenceImage.character_id).in_([c.id for c in characters]))
                    .order_by(col(ReferenceImage.position), col(ReferenceImage.id))
                )
            )
        portrait: dict[int, str] = {}
        for picture in pictures:
            portrait.setdefault(picture.character_id, picture.file_path)
        subtitles = ""
        if episode.subtitles_path:
            subtitles = (await self._media.read(episode.subtitles_path)).decode()
        plot = (storyline.summary if storyline else "") or project.premise or project.description
        return Release(
            series_title=(storyline.title if storyline else "") or project.name,
            year=project.created_at.year,
            series_plot=plot,
            genres=tuple(g.strip() for g in project.genre.split(",") if g.strip()),
            cast=tuple(
                CastMember(
                    name=c.name,
                    role=_first_line(c.design_prompt),
                    thumb=self._media.path_of(portrait[c.id]) if c.id in portrait else None,
                )
                for c in characters
            ),
            series_poster=None,
            season=SEASON,
            episode=episode.episode_number,
            title=episode.title,
            plot=episode.description,
            aired=(episode.assembled_at or self._clock.now()).date(),
            runtime_seconds=episode.actual_duration_seconds or 0.0,
            video=self._media.path_of(episode.final_video_path),
            thumbnail=self._media.path_of(episode.thumbnail_path),
            subtitles_srt=subtitles,
            series_id=f"project-{project.id}",
            episode_id=str(episode.id),
        )

    def _library(self, kind: str) -> Library:
        library = self._libraries.get(kind)
        if library is None:
            raise BackendUnavailable(
                "library", f"the '{kind}' library is no longer set up; set it up again to change it"
            )
        return library


def _first_line(text: str) -> str:
    line = text.strip().split("\n", 1)[0]
    return line if len(line) <= ROLE_CHARACTERS else line[: ROLE_CHARACTERS - 1].rstrip(" ,") + "…"
