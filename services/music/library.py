"""A project's music cache: uploaded tracks, tracks ACE-Step generates, and kept temp beds; which track a scene
plays; and what scene assembly mixes under a scene (its track, or the mood's temp bed, saying why).

Deleting is soft. A track some scenes play is only deleted when the caller says to detach it from them; the
deletion reports which scenes those were, and restoring may attach it to them again (the page's Undo does).
A generating track that is deleted has its job cancelled first (it is then a failed track: retry it after
restoring it). Files are never removed, so a restored track plays at once.

A generated track follows its job: the `music.generate` job (on the worker of a device hosting ACE-Step)
marks it ready; when the job fails or is cancelled, the job's change event marks the track failed with the
job's error (or "cancelled"); retrying the job puts the track back to generating.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from sqlmodel import col, select

from services.errors import BackendUnavailable, Conflict, Invalid, NotFound
from services.jobs import FINISHED_STATES, JobChanged, JobDraft, JobQueue
from services.media_store import MediaStore
from services.music.audio import AudioInfo, NotAudio, probe_audio
from services.music.events import MusicChange, MusicChanged
from services.music.moods import MOOD_CAPTIONS, caption_for, check_mood, mood_of
from services.music.temp_bed import VERSION, render_temp_bed
from services.uploads import receive_upload
from studio.clock import Clock
from studio.config import CONNECTIONS_PAGE, Settings
from studio.db import Database
from studio.events import EventBus
from studio.models import Job, JobPriority, JobState, MusicTrack, Project, Scene

MUSIC_JOB = "music.generate"
MIN_SECONDS, MAX_SECONDS = 1.0, 300.0
DEFAULT_SECONDS = 30.0
MAX_UPLOAD_SECONDS = 20 * 60
MAX_SEED = 2**31 - 1
MAX_CAPTION = 1000
TEMP_BED_FOLDER = "music/temp-beds"
SOURCE_LABELS = {"generated": "generated", "uploaded": "uploaded", "temp_bed": "temp bed"}
# A name's suffix, kept when ffprobe's container name has no suffix of its own.
NAME_SUFFIXES = frozenset({".wav", ".mp3", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".aif", ".aiff"})
NO_DEVICE = (
    f"no device hosts ACE-Step: give a device an ace_step_url on {CONNECTIONS_PAGE}, or set "
    'STUDIO_DEVICES=\'[{"name":"rx9070","ace_step_url":"http://127.0.0.1:8001"}]\' (ACE-Step\'s own API server; '
    'add "ace_step_api":"wrapper" for the earlier studio\'s wrapper)'
)


@dataclass(frozen=True)
class SceneMusic:
    """What scene assembly mixes under a scene."""

    path: Path  # absolute
    label: str  # "“Storm theme” (uploaded)" or "temp bed (tense)"
    temp_bed: bool
    note: str | None  # why the temp bed plays instead of the attached track; None when none is attached


@dataclass(frozen=True)
class MusicRequest:
    """What to generate. Unset fields come from the scene (its mood and target duration) or the defaults."""

    mood: str | None = None
    caption: str | None = None
    duration_seconds: float | None = None
    seed: int | None = None
    scene_id: uuid.UUID | None = None  # attach the track to this scene once it is generated
    title: str | None = None


@dataclass(frozen=True)
class DeletedTrack:
    track: MusicTrack
    detached_scenes: list[uuid.UUID]  # the scenes that played it (give them to `restore` to attach it again)


class MusicLibrary:
    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        events: EventBus,
        media: MediaStore,
        jobs: JobQueue,
        clock: Clock,
    ) -> None:
        self._settings = settings
        self._db = db
        self._events = events
        self._media = media
        self._jobs = jobs
        self._clock = clock
        self._bed_locks: dict[str, asyncio.Lock] = {}
        events.subscribe(JobChanged, self._job_changed)

    # --- reading --------------------------------------------------------------------------------------

    @staticmethod
    def moods() -> dict[str, str]:
        """The fifteen moods and the instrumentation each asks ACE-Step for."""
        return dict(MOOD_CAPTIONS)

    def generation_unavailable(self) -> str | None:
        """Why music cannot be generated here (no device hosts ACE-Step), or None when it can."""
        return None if self._settings.ace_step_devices else NO_DEVICE

    async def list(self, project_id: int, include_deleted: bool = False) -> list[MusicTrack]:
        """The project's tracks, newest first."""
        query = (
            select(MusicTrack)
            .where(MusicTrack.project_id == project_id)
            .order_by(col(MusicTrack.created_at).desc(), col(MusicTrack.id).desc())
        )
        if not include_deleted:
            query = query.where(col(MusicTrack.deleted_at).is_(None))
        async with self._db.session() as session:
            return list((await session.exec(query)).all())

    async def get(self, track_id: int) -> MusicTrack:
        async with self._db.session() as session:
            track = await session.get(MusicTrack, track_id)
        if track is None:
            raise NotFound(f"there is no music track {track_id}")
        return track

    async def audio_path(self, track_id: int) -> Path:
        """The absolute path of a track's audio. NotFound: no such track, or it has no file (yet)."""
        track = await self.get(track_id)
        if track.path is None:
            raise NotFound(f"music track {track_id} has no audio yet ({track.status})")
        path = await self._file_of(track)
        if path is None:
            raise NotFound(f"the audio of music track {track_id} is missing from the data folder ({track.path})")
        return path

    async def _file_of(self, track: MusicTrack) -> Path | None:
        """The track's file when it exists; a kept temp bed whose cached file was removed is rendered again."""
        assert track.path is not None
        path = self._media.path_of(track.path)
        if await asyncio.to_thread(path.is_file):
            return path
        if track.source == "temp_bed" and track.mood and track.path == _bed_relative(track.mood):
            return await self.temp_bed_path(track.mood)
        return None

    async def scenes_using(self, track_id: int) -> list[Scene]:
        """The scenes (deleted ones too) whose music is this track, in order."""
        query = select(Scene).where(Scene.music_track_id == track_id).order_by(col(Scene.scene_number))
        async with self._db.session() as session:
            return list((await session.exec(query)).all())

    # --- what scene assembly calls ----------------------------------------------------------------------

    async def music_for_scene(self, scene: Scene) -> SceneMusic:
        """The attached track when it is ready and its file exists, else the temp bed of the scene's mood with
        a note saying why (None when the scene simply has no track)."""
        note = None
        if scene.music_track_id is not None:
            async with self._db.session() as session:
                track = await session.get(MusicTrack, scene.music_track_id)
            if track is not None:
                playable, note = await self._playable(track)
                if playable is not None:
                    return SceneMusic(path=playable, label=track_label(track), temp_bed=False, note=None)
        mood = mood_of(scene.mood)
        return SceneMusic(path=await self.temp_bed_path(mood), label=f"temp bed ({mood})", temp_bed=True, note=note)

    async def _playable(self, track: MusicTrack) -> tuple[Path | None, str | None]:
        name = f"the attached track “{track.title}”"
        if track.deleted_at is not None:
            return None, f"{name} was deleted"
        if track.status == "generating":
            return None, f"{name} is still generating"
        if track.status == "failed":
            return None, f"{name} failed to generate" + (f": {track.error}" if track.error else "")
        if track.path is None:
            return None, f"{name} has no audio file"
        path = await self._file_of(track)
        if path is None:
            return None, f"{name} lost its audio file ({track.path})"
        return path, None

    async def temp_bed_path(self, mood: str) -> Path:
        """The mood's temp bed (a cached WAV, rendered off the event loop on first use). Invalid: unknown mood."""
        mood = check_mood(mood)
        relative = _bed_relative(mood)
        path = self._media.path_of(relative)
        lock = self._bed_locks.setdefault(mood, asyncio.Lock())
        async with lock:
            if not await asyncio.to_thread(path.is_file):
                await self._media.write(relative, await asyncio.to_thread(render_temp_bed, mood))
        return path

    # --- adding music -------------------------------------------------------------------------------------

    async def upload(
        self, project_id: int, name: str, chunks: AsyncIterator[bytes], actor: str, title: str | None = None
    ) -> MusicTrack:
        """Add an uploaded audio file to the project's music.

        Invalid("file"): not a plain name, empty, larger than max_music_upload_mb, no audio stream (garbage, a
        picture, a video), a video, or longer than 20 minutes. Conflict: the project already has this file.
        NotFound: no such project. Nothing is kept from a refused upload.
        """
        await self._project(project_id)
        name = _plain_name(name)
        folder = f"projects/{project_id}/music"
        staging = f"{folder}/.incoming-{uuid.uuid4().hex}"
        staged = self._media.path_of(staging)
        try:
            digest = await receive_upload(
                chunks, staged, self._settings.max_music_upload_mb, "file", "max_music_upload_mb"
            )
            info = await probe_audio(staged, name)
            _check_upload(info, name)
            suffix = info.suffix
            if suffix == ".audio":
                name_suffix = PurePosixPath(name).suffix.lower()
                suffix = name_suffix if name_suffix in NAME_SUFFIXES else suffix
            relative = f"{folder}/{digest}{suffix}"
            async with self._db.session() as session:
                same = (
                    await session.exec(
                        select(MusicTrack).where(MusicTrack.project_id == project_id, MusicTrack.path == relative)
                    )
                ).first()
                if same is not None:
                    where = " (deleted: restore it instead)" if same.deleted_at else ""
                    raise Conflict(f"{name} is already in this project's music as “{same.title}”{where}")
                await asyncio.to_thread(os.replace, staged, self._media.path_of(relative))
                track = MusicTrack(
                    project_id=project_id,
                    title=_title(title, PurePosixPath(name).stem),
                    source="uploaded",
                    duration_seconds=info.duration_seconds,
                    path=relative,
                    status="ready",
                )
                session.add(track)
        finally:
            await asyncio.to_thread(staged.unlink, True)
        await self._announce(actor, track, "added")
        return track

    async def keep_temp_bed(self, project_id: int, mood: str, actor: str) -> MusicTrack:
        """Add the mood's temp bed to the project's music, so a scene of another mood can play it.

        Invalid: unknown mood. Conflict: the project already keeps this bed. NotFound: no such project.
        """
        await self._project(project_id)
        mood = check_mood(mood)
        path = await self.temp_bed_path(mood)
        relative = _bed_relative(mood)
        info = await probe_audio(path)
        async with self._db.session() as session:
            same = (
                await session.exec(
                    select(MusicTrack).where(
                        MusicTrack.project_id == project_id,
                        MusicTrack.path == relative,
                        col(MusicTrack.deleted_at).is_(None),
                    )
                )
            ).first()
            if same is not None:
                raise Conflict(f"this project already keeps the {mood} temp bed as “{same.title}”")
            track = MusicTrack(
                project_id=project_id,
                title=f"Temp bed ({mood})",
                source="temp_bed",
                mood=mood,
                caption="soft chord pad synthesized by the studio",
                duration_seconds=info.duration_seconds,
                path=relative,
                status="ready",
            )
            session.add(track)
        await self._announce(actor, track, "added")
        return track

    async def generate(self, project_id: int, request: MusicRequest, actor: str) -> tuple[MusicTrack, Job]:
        """Queue a piece on ACE-Step; the new track is `generating` until its job ends.

        BackendUnavailable: no device hosts ACE-Step. Invalid: an unknown mood, a duration outside 1-300 s, a seed
        outside 0..2^31-1, an empty or overlong caption, a scene of another project. NotFound: no such project
        or scene. Conflict: the scene is deleted.
        """
        if (reason := self.generation_unavailable()) is not None:
            raise BackendUnavailable("device", reason)
        await self._project(project_id)
        scene = await self._scene_for(project_id, request.scene_id) if request.scene_id else None
        mood = check_mood(request.mood) if request.mood else mood_of(scene.mood if scene else None)
        caption = (request.caption or "").strip() or caption_for(mood)
        if len(caption) > MAX_CAPTION:
            raise Invalid("caption", f"at most {MAX_CAPTION} characters")
        seconds = request.duration_seconds
        if seconds is None:
            target = scene.target_duration_seconds if scene else DEFAULT_SECONDS
            seconds = min(MAX_SECONDS, max(MIN_SECONDS, target))
        if not MIN_SECONDS <= seconds <= MAX_SECONDS:
            raise Invalid("duration_seconds", f"give {MIN_SECONDS:g} to {MAX_SECONDS:g} seconds, not {seconds:g}")
        if request.seed is not None and not 0 <= request.seed <= MAX_SEED:
            raise Invalid("seed", f"give a seed from 0 to {MAX_SEED}, or none for a random one")
        default_title = f"{scene.title or f'Scene {scene.scene_number}'} ({mood})" if scene else f"{mood.title()} cue"
        track = MusicTrack(
            project_id=project_id,
            title=_title(request.title, default_title),
            source="generated",
            mood=mood,
            caption=caption,
            duration_seconds=seconds,  # the length asked for, until the file says
            status="generating",
        )
        async with self._db.session() as session:
            session.add(track)
        await self._announce(actor, track, "generating")
        payload = {
            "track_id": track.id,
            "project_id": project_id,
            "caption": caption,
            "seconds": seconds,
            "seed": request.seed,
            "scene_id": str(scene.id) if scene else None,
        }
        try:
            job = await self._submit(track, payload, actor)
        except BaseException:
            async with self._db.session() as session:
                row = await session.get(MusicTrack, track.id)
                if row is not None:
                    await session.delete(row)
            raise
        return await self.get(track.id), job  # type: ignore[arg-type]

    async def retry(self, track_id: int, actor: str) -> MusicTrack:
        """Generate a failed track again (its job again, when the queue still has it). Conflict: not failed.
        BackendUnavailable: no device hosts ACE-Step."""
        track = await self.get(track_id)
        if track.source != "generated" or track.status != "failed":
            raise Conflict(f"“{track.title}” is {track.status}; only a failed generated track can be retried")
        if (reason := self.generation_unavailable()) is not None:
            raise BackendUnavailable("device", reason)
        job = await self._job_of(track)
        if job is not None and job.state in (JobState.FAILED, JobState.CANCELLED):
            await self._jobs.retry(job.id, actor)  # type: ignore[arg-type]  # the job event sets it generating
            return await self.get(track_id)
        payload = {
            "track_id": track.id,
            "project_id": track.project_id,
            "caption": track.caption,
            "seconds": track.duration_seconds or DEFAULT_SECONDS,
            "seed": None,
            "scene_id": None,
        }
        async with self._db.session() as session:
            row = await self._row(session, track_id)
            row.status, row.error = "generating", None
            session.add(row)
        await self._announce(actor, row, "generating")
        await self._submit(row, payload, actor)
        return await self.get(track_id)

    async def store_generated(self, job: Job, audio: bytes, device: str) -> dict[str, Any]:
        """The music job's last step: store the audio, mark the track ready, attach it to the scene it was made
        for. NotAudio: the bytes are not audio. Conflict: the track no longer waits for this job (nothing kept).
        """
        payload = job.payload
        track_id, project_id = int(payload["track_id"]), int(payload["project_id"])
        folder = f"projects/{project_id}/music"
        staging = await self._media.write(f"{folder}/.incoming-{uuid.uuid4().hex}", audio)
        staged = self._media.path_of(staging)
        try:
            info = await probe_audio(staged, f"ACE-Step's audio for job {job.id}")
            relative = f"{folder}/{track_id}-{job.id}{info.suffix}"
            final = self._media.path_of(relative)
            await asyncio.to_thread(os.replace, staged, final)
        finally:
            await asyncio.to_thread(staged.unlink, True)
        attached: Scene | None = None
        async with self._db.session() as session:
            track = await session.get(MusicTrack, track_id)
            # job_id may not be recorded yet: the job can finish before `generate` writes it down.
            if track is None or track.status != "generating" or track.job_id not in (None, job.id):
                await asyncio.to_thread(final.unlink, True)
                raise Conflict(f"music track {track_id} no longer waits for job {job.id}; its audio was not kept")
            track.status, track.path, track.error, track.job_id = "ready", relative, None, job.id
            track.duration_seconds = info.duration_seconds
            session.add(track)
            if payload.get("scene_id"):
                scene = await session.get(Scene, uuid.UUID(str(payload["scene_id"])))
                if scene is not None and scene.project_id == project_id and scene.deleted_at is None:
                    scene.music_track_id = track_id
                    session.add(scene)
                    attached = scene
        await self._announce("studio", track, "generated")
        if attached is not None:
            await self._announce("studio", track, "attached", attached.id)
        return {
            "track_id": track_id,
            "path": relative,
            "duration_seconds": info.duration_seconds,
            "device": device,
            "scene_id": str(attached.id) if attached else None,
        }

    # --- scenes ---------------------------------------------------------------------------------------

    async def attach(self, scene_id: uuid.UUID, track_id: int | None, actor: str) -> Scene:
        """Make a track the scene's music (None: no track, so the mood's temp bed plays).

        NotFound: no such scene or track. Invalid("track_id"): a track of another project. Conflict: the
        scene is deleted, or the track is deleted, still generating or failed.
        """
        async with self._db.session() as session:
            scene = await session.get(Scene, scene_id)
            if scene is None:
                raise NotFound(f"there is no scene {scene_id}")
            if scene.deleted_at is not None:
                raise Conflict(f"scene {_scene_name(scene)} is deleted; restore it first")
            previous = scene.music_track_id
            if track_id is None:
                if previous is None:
                    return scene
                scene.music_track_id = None
                session.add(scene)
                track = await session.get(MusicTrack, previous)
            else:
                track = await self._row(session, track_id)
                _check_attachable(track, scene)
                if previous == track_id:
                    return scene
                scene.music_track_id = track_id
                session.add(scene)
        if track is not None:
            await self._announce(actor, track, "attached" if track_id is not None else "detached", scene.id)
        return scene

    # --- deleting -------------------------------------------------------------------------------------

    async def delete(self, track_id: int, actor: str, detach: bool = False) -> DeletedTrack:
        """Soft-delete a track (its file stays). Conflict: scenes play it and `detach` is False (the message
        names them). With `detach`, those scenes go back to their temp bed; the result lists them. A
        generating track's job is cancelled first."""
        track = await self.get(track_id)
        if track.deleted_at is not None:
            return DeletedTrack(track, [])
        users = await self.scenes_using(track_id)
        if users and not detach:
            names = ", ".join(_scene_name(scene) for scene in users)
            raise Conflict(
                f"“{track.title}” is the music of scene {names}; detach it from them first, or delete it with "
                "detach (Undo attaches it again)"
            )
        if track.status == "generating":
            job = await self._job_of(track)
            if job is not None and job.state not in FINISHED_STATES:
                await self._jobs.cancel(job.id, actor)  # type: ignore[arg-type]
        async with self._db.session() as session:
            row = await self._row(session, track_id)
            row.deleted_at = self._clock.now()
            session.add(row)
            detached = []
            for scene in users:
                held = await session.get(Scene, scene.id)
                if held is not None and held.music_track_id == track_id:
                    held.music_track_id = None
                    session.add(held)
                    detached.append(held.id)
        for scene_id in detached:
            await self._announce(actor, row, "detached", scene_id)
        await self._announce(actor, row, "deleted")
        return DeletedTrack(row, detached)

    async def restore(self, track_id: int, actor: str, reattach: Sequence[uuid.UUID] = ()) -> MusicTrack:
        """Bring a deleted track back; a ready track becomes the music of `reattach`'s scenes again where they
        still exist and have no other track. Returns the track."""
        async with self._db.session() as session:
            track = await self._row(session, track_id)
            restored = track.deleted_at is not None
            track.deleted_at = None
            session.add(track)
            attached = []
            if track.status == "ready":
                for scene_id in reattach:
                    scene = await session.get(Scene, scene_id)
                    if (
                        scene is not None
                        and scene.project_id == track.project_id
                        and scene.deleted_at is None
                        and scene.music_track_id is None
                    ):
                        scene.music_track_id = track_id
                        session.add(scene)
                        attached.append(scene.id)
        if restored:
            await self._announce(actor, track, "restored")
        for scene_id in attached:
            await self._announce(actor, track, "attached", scene_id)
        return track

    # --- keeping tracks and jobs in step ------------------------------------------------------------------

    async def reconcile(self) -> int:
        """On start: tracks left generating whose job ended (or vanished) while the studio was down are marked
        failed with the job's error. Returns how many."""
        query = select(MusicTrack, Job).outerjoin(Job, col(Job.id) == MusicTrack.job_id)
        query = query.where(MusicTrack.status == "generating")
        failed: list[MusicTrack] = []
        async with self._db.session() as session:
            for track, job in (await session.exec(query)).all():
                if job is None:
                    track.error = "its job no longer exists; retry to generate it again"
                elif job.state in (JobState.FAILED, JobState.CANCELLED):
                    track.error = "cancelled" if job.state == JobState.CANCELLED else (job.error or "failed")
                elif job.state == JobState.SUCCEEDED:
                    track.error = "its job finished without storing the music; retry to generate it again"
                else:
                    continue
                track.status = "failed"
                session.add(track)
                failed.append(track)
        for track in failed:
            await self._announce("studio", track, "failed", detail=track.error)
        return len(failed)

    async def _job_changed(self, event: JobChanged) -> None:
        if event.kind != MUSIC_JOB or event.change not in ("failed", "cancelled", "retried"):
            return
        async with self._db.session() as session:
            track = (await session.exec(select(MusicTrack).where(MusicTrack.job_id == event.job_id))).first()
            if track is None:  # the job ended before `generate` recorded it on the track: find it by the payload
                job = await session.get(Job, event.job_id)
                track_id = (job.payload or {}).get("track_id") if job is not None else None
                track = await session.get(MusicTrack, track_id) if isinstance(track_id, int) else None
                if track is None or track.job_id not in (None, event.job_id):
                    return
                track.job_id = event.job_id
            if event.change == "retried":
                if track.status != "failed":
                    return
                track.status, track.error = "generating", None
                change: MusicChange = "generating"
            else:
                if track.status != "generating":
                    return
                track.status = "failed"
                track.error = "cancelled" if event.change == "cancelled" else (event.error or "failed")
                change = "failed"
            session.add(track)
        await self._announce(event.actor, track, change, detail=track.error)

    # --- helpers --------------------------------------------------------------------------------------

    async def _submit(self, track: MusicTrack, payload: dict[str, Any], actor: str) -> Job:
        draft = JobDraft(
            kind=MUSIC_JOB,
            payload=payload,
            title=f"Music: {track.title}"[:200],
            priority=JobPriority.INTERACTIVE,
            project_id=track.project_id,
        )
        [job] = await self._jobs.submit([draft], actor)
        async with self._db.session() as session:
            row = await self._row(session, track.id)  # type: ignore[arg-type]
            row.job_id = job.id
            session.add(row)
        return job

    async def _job_of(self, track: MusicTrack) -> Job | None:
        if track.job_id is None:
            return None
        try:
            return await self._jobs.get(track.job_id)
        except NotFound:
            return None

    async def _project(self, project_id: int) -> Project:
        async with self._db.session() as session:
            project = await session.get(Project, project_id)
        if project is None:
            raise NotFound(f"there is no project {project_id}")
        return project

    async def _scene_for(self, project_id: int, scene_id: uuid.UUID) -> Scene:
        async with self._db.session() as session:
            scene = await session.get(Scene, scene_id)
        if scene is None:
            raise NotFound(f"there is no scene {scene_id}")
        if scene.project_id != project_id:
            raise Invalid("scene_id", f"scene {_scene_name(scene)} belongs to another project")
        if scene.deleted_at is not None:
            raise Conflict(f"scene {_scene_name(scene)} is deleted; restore it first")
        return scene

    @staticmethod
    async def _row(session: Any, track_id: int) -> MusicTrack:
        track = await session.get(MusicTrack, track_id)
        if track is None:
            raise NotFound(f"there is no music track {track_id}")
        return track

    async def _announce(
        self,
        actor: str,
        track: MusicTrack,
        change: MusicChange,
        scene_id: uuid.UUID | None = None,
        detail: str | None = None,
    ) -> None:
        await self._events.emit(
            MusicChanged(
                actor=actor,
                track_id=track.id,  # type: ignore[arg-type]
                project_id=track.project_id,
                change=change,
                label=track.title,
                scene_id=str(scene_id) if scene_id else None,
                detail=detail,
            )
        )


def _bed_relative(mood: str) -> str:
    return f"{TEMP_BED_FOLDER}/{mood}-{VERSION}.wav"


def track_label(track: MusicTrack) -> str:
    """How a scene's music is named to people: “Storm theme” (uploaded)."""
    return f"“{track.title}” ({SOURCE_LABELS.get(track.source, track.source)})"


def _scene_name(scene: Scene) -> str:
    return f"{scene.scene_number}. {scene.title or 'untitled'}"


def _check_attachable(track: MusicTrack, scene: Scene) -> None:
    if track.project_id != scene.project_id:
        raise Invalid("track_id", f"music track {track.id} belongs to another project")
    if track.deleted_at is not None:
        raise Conflict(f"“{track.title}” is deleted; restore it first")
    if track.status == "generating":
        raise Conflict(f"“{track.title}” is still generating; attach it once it is ready")
    if track.status == "failed":
        raise Conflict(f"“{track.title}” failed to generate; retry it, then attach it")


def _check_upload(info: AudioInfo, name: str) -> None:
    if info.has_video:
        raise NotAudio(f"{name} is a video; upload its soundtrack as an audio file (ffmpeg -i {name} -vn out.m4a)")
    if info.duration_seconds is None:
        raise NotAudio(f"{name} has no duration (a cut-off file?)")
    if info.duration_seconds > MAX_UPLOAD_SECONDS:
        minutes = info.duration_seconds / 60
        raise Invalid("file", f"{name} runs {minutes:.0f} minutes; music for a scene may run at most 20 minutes")


def _plain_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 255:
        raise Invalid("file", "the file needs a name of 1 to 255 characters")
    if any(ord(ch) < 32 for ch in name) or "/" in name or "\\" in name or name in (".", ".."):
        raise Invalid("file", f"'{name[:80]}' is not a plain file name (no folders, '..' or control characters)")
    return name


def _title(given: str | None, fallback: str) -> str:
    title = " ".join((given or "").split()) or fallback
    return title[:200]
