"""Assembling an episode: its scenes' videos joined in order, with a transition at each boundary.

An `episode.assemble` job on the cpu device reads every scene's assembled video, plans the frame-exact
timeline, and smart-renders it (only the transitions re-encoded) when every scene is in the house format,
otherwise renders it in full, saying why in the episode's warnings. A smart render that ffmpeg refuses is
done again in full. The episode gets a thumbnail and subtitles re-timed from its scenes' subtitles; the
files of the previous assembly stay until the new ones are complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.assembly.house import HouseFormat, house_format
from services.assembly.subtitles import Cue, parse_vtt, shifted, to_srt, to_vtt
from services.assembly.timeline import Timeline, frame_rate, plan_frames
from services.episodes.episodes import EpisodeEntry, Episodes, episode_label
from services.episodes.render import (
    NotSmart,
    SceneVideo,
    chapters,
    probe_scene_video,
    render_full,
    render_smart,
    smart_pieces,
)
from services.errors import Conflict, Invalid, StudioError
from services.jobs import JobDraft, ProgressSink
from services.media import grab_jpeg, probe_video
from services.media_store import MediaStore
from services.scenes.scenes import row_or_404, scene_heading
from studio.clock import Clock
from studio.config import Settings
from studio.db import Database
from studio.models import Episode, Job, JobPriority, Project

EPISODE_ASSEMBLY_JOB = "episode.assemble"
SMART, FULL = "smart", "full"


@dataclass(frozen=True)
class Rendered:
    mode: str
    timeline: Timeline
    videos: list[SceneVideo]
    entries: list[EpisodeEntry]


class EpisodeAssembly:
    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        clock: Clock,
        media: MediaStore,
        episodes: Episodes,
    ) -> None:
        self._settings = settings
        self._db = db
        self._clock = clock
        self._media = media
        self._episodes = episodes

    async def start(self, episode_id: uuid.UUID, actor: str, priority: int = JobPriority.INTERACTIVE) -> Job:
        """Queue the episode's assembly (`priority`: the autopilot's is background work).
        Invalid: deleted, no scenes, or a scene without an assembled video.
        Conflict: it is already assembling."""
        episode, entries = await self._episodes.get(episode_id), await self._episodes.entries(episode_id)
        if episode.deleted_at is not None:
            raise Invalid("episode", "this episode is deleted; restore it first")
        if not entries:
            raise Invalid("scenes", "this episode has no scenes yet: add the scenes it plays, in order")
        unready = [_scene_name(e) for e in entries if e.scene.deleted_at is not None or not e.scene.final_video_path]
        if unready:
            raise Invalid("scenes", f"assemble these scenes first (or take them out): {', '.join(unready)}")
        if await self.running_job(episode) is not None:
            raise Conflict("this episode is already being assembled")
        draft = JobDraft(
            kind=EPISODE_ASSEMBLY_JOB,
            payload={"episode_id": str(episode.id)},
            title=f"Assemble episode {episode_label(episode)}",
            priority=priority,
            project_id=episode.project_id,
        )
        return await self._episodes.queue_job(episode, draft, "assembly_job_id", "assembling", actor)

    async def running_job(self, episode: Episode) -> Job | None:
        """The episode's assembly job while it is queued or running."""
        return await self._episodes.running_job(episode.assembly_job_id)

    async def out_of_date(self, episode_id: uuid.UUID) -> list[str]:
        """Why the assembled video no longer matches the episode's scenes ([] when it does, or when the
        episode was never assembled)."""
        episode, entries = await self._episodes.get(episode_id), await self._episodes.entries(episode_id)
        if not episode.final_video_path:
            return []
        made_from = episode.assembled_from
        if [row[0] for row in made_from] != [str(e.scene.id) for e in entries]:
            return ["the scenes or their order changed since the episode was assembled"]
        reasons = []
        for i, (entry, row) in enumerate(zip(entries, made_from, strict=True)):
            if entry.scene.final_video_path != row[1]:
                reasons.append(f"{_scene_name(entry)} was assembled again")
            if i + 1 < len(entries) and [entry.link.transition, entry.link.transition_duration] != row[2:4]:
                reasons.append(f"the transition after {_scene_name(entry)} changed")
        return reasons

    # --- the job ----------------------------------------------------------------------------------

    async def run(self, job: Job, progress: ProgressSink) -> dict[str, Any]:
        episode_id = uuid.UUID(job.payload["episode_id"])
        try:
            return await self._assemble(job, await self._episodes.get(episode_id), progress)
        finally:
            await self._episodes.job_ended(episode_id, "assembly_job_id", job.id)

    async def _assemble(self, job: Job, episode: Episode, progress: ProgressSink) -> dict[str, Any]:
        async with self._db.session() as session:
            project = await row_or_404(session, Project, episode.project_id, "project")
        await progress(0.01, "reading the scenes")
        fps = frame_rate(project.frame_rate)
        house = house_format(self._settings, project.frame_width, project.frame_height, fps)
        warnings: list[str] = []
        entries, videos = [], []
        for entry in await self._episodes.entries(episode.id):
            path = self._media.path_of(entry.scene.final_video_path) if entry.scene.final_video_path else None
            if path is None or entry.scene.deleted_at is not None:
                warnings.append(f"{_scene_name(entry)} has no assembled video: it is left out")
                continue
            try:
                videos.append(await probe_scene_video(path, house))
            except Invalid as exc:
                warnings.append(f"{_scene_name(entry)}'s video cannot be read ({exc.message}): it is left out")
                continue
            entries.append(entry)
        if not entries:
            raise Invalid("scenes", "no scene of this episode has a video that can be read: assemble the scenes")
        # A scene's transition leads into the next one; the timeline counts each into the scene after.
        into = [("cut", 0.0)] + [(e.link.transition, e.link.transition_duration) for e in entries[:-1]]
        timeline = plan_frames(fps, [(v.frames, t, s) for v, (t, s) in zip(videos, into, strict=True)])
        folder = f"projects/{project.id}/episodes/{episode.id}"
        video = f"{folder}/episode-{job.id}.mp4"
        titles = [scene_heading(e.scene) for e in entries]
        mode = await self._render(job, timeline, videos, house, titles, video, folder, warnings, progress)
        await progress(0.96, "making the thumbnail and subtitles")
        rendered = await probe_video(self._media.path_of(video))
        thumbnail = f"{folder}/episode-{job.id}.jpg"
        await grab_jpeg(self._media.path_of(video), timeline.clip_seconds(0) / 2, self._media.path_of(thumbnail))
        cues = await self._subtitles(entries, timeline)
        subtitles = f"{folder}/episode-{job.id}.srt"
        await self._media.write(subtitles, to_srt(cues).encode())
        await self._media.write(f"{folder}/episode-{job.id}.vtt", to_vtt(cues).encode())
        made_from = [
            [str(e.scene.id), e.scene.final_video_path, e.link.transition, e.link.transition_duration] for e in entries
        ]
        await self._store(episode, video, thumbnail, subtitles, rendered.duration_seconds, mode, warnings, made_from)
        await self._episodes.announce(job.created_by or "studio", episode, "assembled")
        return {
            "video": video,
            "seconds": rendered.duration_seconds,
            "frames": timeline.total_frames,
            "mode": mode,
            "scenes": len(entries),
            "warnings": warnings,
        }

    async def _render(
        self,
        job: Job,
        timeline: Timeline,
        videos: list[SceneVideo],
        house: HouseFormat,
        titles: list[str],
        video: str,
        folder: str,
        warnings: list[str],
        progress: ProgressSink,
    ) -> str:
        """Render smart if it can, else in full, with a chapter per scene; returns which it did."""

        async def rendering(fraction: float, message: str) -> None:
            await progress(0.05 + 0.9 * fraction, message)

        try:
            pieces = smart_pieces(timeline, videos)
        except NotSmart as why:
            warnings.append(f"full render: {why}")
            pieces = None
        work = self._media.path_of(f"{folder}/.work-{job.id}")
        marks = work / "chapters.txt"
        try:
            await asyncio.to_thread(work.mkdir, parents=True, exist_ok=True)
            await asyncio.to_thread(marks.write_text, chapters(timeline, titles))
            if pieces is not None:
                try:
                    async with self._media.partial(video) as partial:
                        await render_smart(timeline, videos, pieces, house, partial, marks, work, rendering)
                    return SMART
                except StudioError as failure:
                    warnings.append(f"full render: the smart render failed ({failure})")
            async with self._media.partial(video) as partial:
                await render_full(timeline, videos, house, partial, marks, rendering)
            return FULL
        finally:
            await asyncio.shield(asyncio.to_thread(shutil.rmtree, work, True))

    async def _subtitles(self, entries: list[EpisodeEntry], timeline: Timeline) -> list[Cue]:
        """Each scene's subtitles moved to where the scene plays in the episode."""
        cues: list[Cue] = []
        for i, entry in enumerate(entries):
            if not entry.scene.subtitles_path:
                continue
            try:
                text = (await self._media.read(entry.scene.subtitles_path)).decode()
            except OSError:
                continue  # a scene without subtitles on disk simply has none in the episode
            start = timeline.start_seconds(i)
            cues += shifted(parse_vtt(text), start, start + timeline.clip_seconds(i))
        return cues

    async def _store(
        self,
        episode: Episode,
        video: str,
        thumbnail: str,
        subtitles: str,
        seconds: float,
        mode: str,
        warnings: list[str],
        made_from: list[list[Any]],
    ) -> None:
        async with self._db.session() as session:
            row = await session.get(Episode, episode.id)
            if row is None:
                raise Invalid("episode", "the episode was removed while it was assembled")
            replaced = [row.final_video_path, row.thumbnail_path, row.subtitles_path]
            row.final_video_path, row.thumbnail_path, row.subtitles_path = video, thumbnail, subtitles
            row.actual_duration_seconds = round(seconds, 3)
            row.render_mode, row.assembly_warnings, row.assembled_from = mode, warnings, made_from
            row.assembled_at = self._clock.now()
            if row.status == "draft":
                row.status = "assembled"
            session.add(row)
        old = [p for p in replaced if p and p not in (video, thumbnail, subtitles)]
        old += [str(Path(p).with_suffix(".vtt")) for p in replaced[2:] if p and p != subtitles]
        for path in old:
            with contextlib.suppress(OSError):
                await self._media.delete(path)


def _scene_name(entry: EpisodeEntry) -> str:
    return f"scene {entry.scene.scene_number} ({entry.scene.title or 'untitled'})"
