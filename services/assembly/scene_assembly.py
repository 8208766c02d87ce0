"""Assembling a scene: its shots, dialogue and music rendered to one MP4 in a single ffmpeg pass.

A `scene.assemble` job on the cpu device does the work: it voices every line (from the voice cache when
it can), picks the music (the attached track, else the mood's temp bed), places each line at its shot's
start on the frame-exact timeline, measures the mix's loudness (an audio-only pass, a fraction of a
second), then renders video and sound in one graph. Whatever is missing (a shot with no video, a line
whose voice failed, a track that never generated) is left out and said in the scene's warnings; a
transition graph that ffmpeg refuses is rendered again with hard cuts, also with a warning. The files of
the previous assembly stay until the new ones are complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import uuid
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlmodel import select

from services.assembly.graph import (
    PlacedLine,
    SceneRender,
    ShotClip,
    measure_args,
    render_args,
    upscaled_size,
)
from services.assembly.house import HouseFormat, house_format
from services.assembly.loudness import LoudnessLog
from services.assembly.subtitles import Cue, cue, reading_seconds, to_srt, to_vtt
from services.assembly.timeline import Timeline, frame_rate, plan_timeline
from services.errors import Conflict, Invalid, StudioError
from services.jobs import JobDraft, JobFilter, JobQueue, ProgressSink
from services.media import grab_jpeg, probe_video
from services.media.frames import run_ffmpeg
from services.media_store import MediaStore
from services.scenes.events import SceneChanged
from services.scenes.scenes import row_or_404
from studio.clock import Clock
from studio.config import Settings
from studio.db import Database
from studio.events import EventBus
from studio.models import Character, Job, JobPriority, JobState, Project, Scene, Shot

if TYPE_CHECKING:
    from services.music import MusicLibrary
    from services.scenes import Scenes
    from services.voice import DialogueVoices

ASSEMBLY_JOB = "scene.assemble"
# A line never talks over the one before it: it waits this long after it ends.
LINE_GAP_SECONDS = 0.25
# When the last line runs past the last shot, the shot is held this long after the line ends.
TAIL_SECONDS = 0.5


@dataclass(frozen=True)
class VoicedLine:
    shot_index: int  # among the shots that are assembled
    shot_number: int
    text: str
    speaker: str
    audio: Path | None  # None: the voice failed; the line is in the subtitles only
    seconds: float


@dataclass(frozen=True)
class Assembled:
    render: SceneRender
    cues: list[Cue]
    warnings: list[str]


def made_from(scene: Scene, shots: list[Shot]) -> dict[str, Any]:
    """What an assembly of the scene is made of: each shot's video, transition and line, the music and the
    post-processing. Kept in the assembly job's result, it tells later whether the video is out of date."""
    return {
        "shots": [_made_from_shot(s) for s in shots],
        "music": scene.music_track_id,
        "post": [scene.post_interpolate_fps, scene.post_upscale_factor],
    }


def _made_from_shot(shot: Shot) -> list[Any]:
    # id, video, transition (type, seconds), line (text, speaker): what changes_since compares, by position.
    return [
        str(shot.id),
        shot.output_video_path,
        shot.transition_type,
        shot.transition_duration,
        shot.dialogue_text,
        shot.dialogue_character_id,
    ]


def changes_since(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """What changed between two `made_from` records, in words."""
    if [row[0] for row in before["shots"]] != [row[0] for row in now["shots"]]:
        reasons = ["shots were added, removed or reordered since the scene was assembled"]
    else:
        reasons = []
        for number, (old, new) in enumerate(zip(before["shots"], now["shots"], strict=True), start=1):
            if old[1] != new[1]:
                reasons.append(f"shot {number} was rendered again")
            if old[2:4] != new[2:4]:
                reasons.append(f"the transition into shot {number} changed")
            if old[4:6] != new[4:6]:
                reasons.append(f"the dialogue of shot {number} changed")
    if before["music"] != now["music"]:
        reasons.append("the music changed")
    if before["post"] != now["post"]:
        reasons.append("the post-processing changed")
    return reasons


class SceneAssembly:
    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        events: EventBus,
        clock: Clock,
        media: MediaStore,
        jobs: JobQueue,
        scenes: Scenes,
        voices: DialogueVoices,
        music: MusicLibrary,
    ) -> None:
        self._settings = settings
        self._db = db
        self._events = events
        self._clock = clock
        self._media = media
        self._jobs = jobs
        self._scenes = scenes
        self._voices = voices
        self._music = music

    # --- starting ---------------------------------------------------------------------------------

    async def start(self, scene_id: uuid.UUID, actor: str, priority: int = JobPriority.INTERACTIVE) -> Job:
        """Queue the scene's assembly (`priority`: the autopilot's is background work).
        Invalid: deleted, or no shot has a video. Conflict: it is generating
        or already assembling."""
        scene, shots = await self._scenes.get(scene_id), await self._scenes.shots(scene_id)
        if scene.deleted_at is not None:
            raise Invalid("scene", "this scene is deleted; restore it first")
        if scene.generation_status == "generating":
            raise Conflict("this scene is generating; assemble it when its shots are done")
        if await self.running_job(scene) is not None:
            raise Conflict("this scene is already being assembled")
        if not any(shot.output_video_path for shot in shots):
            raise Invalid("shots", "no shot of this scene has a video yet: generate the scene first")
        draft = JobDraft(
            kind=ASSEMBLY_JOB,
            payload={"scene_id": str(scene.id)},
            title=f"Assemble scene {scene.scene_number}: {scene.title or 'untitled'}",
            priority=priority,
            project_id=scene.project_id,
        )
        [job] = await self._jobs.submit([draft], actor)
        async with self._db.session() as session:
            row = await session.get(Scene, scene.id)
            row.assembly_job_id = job.id  # type: ignore[union-attr]
            session.add(row)
        await self._announce(actor, scene, "assembling")
        return job

    async def running_job(self, scene: Scene) -> Job | None:
        """The scene's assembly job while it is queued or running (a cancelled or lost one does not count)."""
        return await self._jobs.unfinished(scene.assembly_job_id)

    async def out_of_date(self, scene: Scene) -> list[str]:
        """Why the assembled video no longer matches the scene's shots and sound ([] when it does, when the
        scene was never assembled, or when the job that assembled it is no longer on record)."""
        if not scene.final_video_path:
            return []
        assemblies = await self._jobs.list(
            JobFilter(states=(JobState.SUCCEEDED,), kind=ASSEMBLY_JOB, project_id=scene.project_id, limit=1000)
        )
        # The job's result names the video it made: the one whose video the scene shows made the scene's.
        made = next((j.result for j in assemblies if (j.result or {}).get("video") == scene.final_video_path), None)
        if made is None or "made_from" not in made:
            return []
        return changes_since(made["made_from"], made_from(scene, await self._scenes.shots(scene.id)))

    # --- the job ----------------------------------------------------------------------------------

    async def run(self, job: Job, progress: ProgressSink) -> dict[str, Any]:
        scene_id = uuid.UUID(job.payload["scene_id"])
        scene, shots = await self._scenes.get(scene_id), await self._scenes.shots(scene_id)
        try:
            return await self._assemble(job, scene, shots, progress)
        finally:
            async with self._db.session() as session:
                row = await session.get(Scene, scene.id)
                if row is not None and row.assembly_job_id == job.id:
                    row.assembly_job_id = None
                    session.add(row)

    async def _assemble(self, job: Job, scene: Scene, shots: list[Shot], progress: ProgressSink) -> dict[str, Any]:
        async with self._db.session() as session:
            project = await row_or_404(session, Project, scene.project_id, "project")
            characters = {
                c.id: c for c in await session.exec(select(Character).where(Character.project_id == project.id))
            }
        await progress(0.01, "reading the shots")
        warnings: list[str] = []
        fps = frame_rate(project.frame_rate)
        used, clips, timing = [], [], []
        for shot in shots:
            path = self._media.path_of(shot.output_video_path) if shot.output_video_path else None
            if path is None or not await asyncio.to_thread(path.is_file):
                warnings.append(f"shot {shot.shot_number} has no video yet: it is left out")
                continue
            try:
                info = await probe_video(path)
            except Invalid as exc:
                warnings.append(f"shot {shot.shot_number}'s video cannot be read ({exc.message}): it is left out")
                continue
            used.append(shot)
            clips.append(ShotClip(path, info.has_audio, max(1, round(info.duration_seconds * fps))))
            timing.append((info.duration_seconds, shot.transition_type, shot.transition_duration))
        if not used:
            raise Invalid("shots", "no shot of this scene has a video yet: generate the scene first")
        await progress(0.03, "voicing the dialogue")
        lines = await self._voice_lines(used, characters, warnings)
        await progress(0.08, "choosing the music")
        music_path: Path | None = None
        try:
            music = await self._music.music_for_scene(scene)
            music_path, music_label = music.path, music.label
            if music.note:
                warnings.append(music.note)
        except StudioError as exc:
            music_label = "none"
            warnings.append(f"the scene has no music: {exc}")
        post = self._post_processing(scene, project, fps, warnings)
        timeline = plan_timeline(fps, timing)
        plan = await self._measured(self._plan(timeline, tuple(clips), project, lines, music_path, post), progress)
        folder = f"projects/{project.id}/scenes/{scene.id}"
        video = f"{folder}/scene-{job.id}.mp4"
        try:
            await self._render(plan.render, video, progress)
        except StudioError as failure:
            if all(t == "cut" for t in timeline.transitions()):
                raise
            # A transition graph ffmpeg refuses is not worth losing the scene over: join with hard cuts.
            warnings.append(f"the transitions could not be rendered ({failure}); the shots are joined with hard cuts")
            cut = self._plan(timeline.with_cuts(), tuple(clips), project, lines, music_path, post)
            plan = await self._measured(cut, progress)
            await self._render(plan.render, video, progress)
        warnings += plan.warnings
        await progress(0.96, "making the poster and subtitles")
        rendered = await probe_video(self._media.path_of(video))
        poster = await self._poster(video, f"{folder}/scene-{job.id}.jpg", plan.render)
        subtitles = f"{folder}/scene-{job.id}.vtt"
        await self._media.write(subtitles, to_vtt(plan.cues).encode())
        await self._media.write(str(Path(subtitles).with_suffix(".srt")), to_srt(plan.cues).encode())
        await self._store(scene, video, poster, subtitles, rendered.duration_seconds, warnings)
        await self._announce(job.created_by or "studio", scene, "assembled")
        return {
            "made_from": made_from(scene, shots),
            "video": video,
            "seconds": rendered.duration_seconds,
            "poster": poster,
            "subtitles": subtitles,
            "lines": sum(1 for line in lines if line.audio is not None),
            "music": music_label,
            "warnings": warnings,
        }

    async def _voice_lines(
        self, shots: list[Shot], characters: dict[int | None, Character], warnings: list[str]
    ) -> list[VoicedLine]:
        lines = []
        for index, shot in enumerate(shots):
            text = shot.dialogue_text.strip()
            if not text:
                continue
            character = characters.get(shot.dialogue_character_id)
            speaker = character.name if character else ""
            try:
                audio = await self._voices.line_audio(text, character)
                seconds = await self._voices.line_seconds(audio)
            except StudioError as exc:
                warnings.append(f"shot {shot.shot_number}: the line has no voice ({exc}); it is in the subtitles only")
                lines.append(VoicedLine(index, shot.shot_number, text, speaker, None, reading_seconds(text)))
                continue
            lines.append(VoicedLine(index, shot.shot_number, text, speaker, audio, seconds))
        return lines

    def _post_processing(
        self, scene: Scene, project: Project, fps: Fraction, warnings: list[str]
    ) -> tuple[int | None, tuple[int, int] | None]:
        interpolate = scene.post_interpolate_fps
        if interpolate is not None and interpolate <= fps:
            warnings.append(
                f"frame interpolation to {interpolate} fps skipped: the project already renders at {float(fps):g} fps"
            )
            interpolate = None
        upscale = None
        if scene.post_upscale_factor and scene.post_upscale_factor > 1:
            size = upscaled_size(project.frame_width, project.frame_height, scene.post_upscale_factor)
            if size[0] <= project.frame_width:
                warnings.append("upscaling skipped: the project's frame size is already at the 1920x1080 cap")
            else:
                upscale = size
        return interpolate, upscale

    def _plan(
        self,
        timeline: Timeline,
        clips: tuple[ShotClip, ...],
        project: Project,
        lines: list[VoicedLine],
        music: Path | None,
        post: tuple[int | None, tuple[int, int] | None],
    ) -> Assembled:
        """Place the lines on the timeline (holding the last shot if the last line runs past it)."""
        added: list[str] = []
        placed: list[tuple[VoicedLine, float]] = []
        free_from = 0.0
        for line in lines:
            start = timeline.start_seconds(line.shot_index)
            if start < free_from:
                added.append(
                    f"shot {line.shot_number}: the line starts {free_from - start:.1f} s into the shot so it does "
                    "not talk over the line before it"
                )
                start = free_from
            placed.append((line, start))
            free_from = start + line.seconds + LINE_GAP_SECONDS
        spoken_until = max((start + line.seconds for line, start in placed if line.audio), default=0.0)
        if spoken_until > timeline.seconds:
            extra = math.ceil((spoken_until + TAIL_SECONDS - timeline.seconds) * timeline.fps)
            timeline = timeline.held(extra)
            added.append(
                f"the last shot is held {timeline.time(extra):.1f} s longer so the last line finishes on screen"
            )
        interpolate, upscale = post
        render = SceneRender(
            timeline=timeline,
            clips=clips,
            width=project.frame_width,
            height=project.frame_height,
            lines=tuple(PlacedLine(line.audio, start) for line, start in placed if line.audio),
            music=music,
            interpolate_fps=interpolate,
            upscale=upscale,
            loudness_target=self._settings.loudness_target_lufs,
        )
        cues = [cue(start, line.seconds, line.text, line.speaker, timeline.seconds) for line, start in placed]
        return Assembled(render, cues, added)

    async def _measured(self, plan: Assembled, progress: ProgressSink) -> Assembled:
        """The plan with its mix's loudness measured (the first of two loudness passes, audio only)."""
        await progress(0.1, "measuring loudness")
        log = LoudnessLog()
        await run_ffmpeg(measure_args(plan.render), what="measure the scene's loudness", on_stderr=log.consume,
                         loglevel="info")  # fmt: skip
        return Assembled(replace(plan.render, loudness=log.measured()), plan.cues, plan.warnings)

    async def _render(self, render: SceneRender, video: str, progress: ProgressSink) -> None:
        async def rendering(fraction: float, message: str) -> None:
            await progress(0.12 + 0.84 * fraction, f"rendering: {message}")

        async with self._media.partial(video) as partial:
            await run_ffmpeg(render_args(render, partial, self._house(render)), what="render the scene",
                             seconds=render.seconds, progress=rendering,
                             files=[partial, *(c.path for c in render.clips)])  # fmt: skip

    def _house(self, render: SceneRender) -> HouseFormat:
        """The project's house format; a post-processed scene keeps the settings at its own size and rate."""
        width, height = render.upscale or (render.width, render.height)
        fps = Fraction(render.interpolate_fps) if render.interpolate_fps else render.timeline.fps
        return house_format(self._settings, width, height, fps)

    async def _poster(self, video: str, poster: str, render: SceneRender) -> str:
        """The frame in the middle of the first shot, as a JPEG (media servers want poster.jpg)."""
        await grab_jpeg(self._media.path_of(video), render.timeline.clip_seconds(0) / 2, self._media.path_of(poster))
        return poster

    async def _store(
        self, scene: Scene, video: str, poster: str, subtitles: str, seconds: float, warnings: list[str]
    ) -> None:
        async with self._db.session() as session:
            row = await session.get(Scene, scene.id)
            if row is None:
                raise Invalid("scene", "the scene was removed while it was assembled")
            replaced = [row.final_video_path, row.poster_path, row.subtitles_path]
            row.final_video_path, row.poster_path, row.subtitles_path = video, poster, subtitles
            row.actual_duration_seconds = round(seconds, 3)
            row.assembly_warnings = warnings
            row.assembled_at = self._clock.now()
            session.add(row)
        old = [p for p in replaced if p and p not in (video, poster, subtitles)]
        old += [str(Path(p).with_suffix(".srt")) for p in replaced[2:] if p and p != subtitles]
        for path in old:
            with contextlib.suppress(OSError):
                await self._media.delete(path)

    # --- helpers --------------------------------------------------------------------------------

    async def _announce(self, actor: str, scene: Scene, change: str) -> None:
        await self._events.emit(
            SceneChanged(
                actor=actor,
                scene_id=str(scene.id),
                project_id=scene.project_id,
                change=change,  # type: ignore[arg-type]
                label=scene.title or "untitled",
            )
        )
