"""Voice sources: a video or audio (a URL, an upload, or a file in the import folders) the studio looks for
speech in, each as one `voice.ingest` job on the cpu device.

Anything that can be checked when a source is added is checked then, and a refusal writes nothing (no row, no
file): an upload that is not media, has no audio track or is over the size or length limits, a folder outside
the import folders, a URL that is not http(s). What only the job can find out (the URL fails, the download has
no audio or is too long, there is no speech at all) fails the job, and the source stays as a failed one with the
job's message and no segments or files: a retry starts clean. A job writes its speakers and segments in one
transaction at its very end, so a failure or a cancel never leaves half a source.

A folder becomes one source per audio or video file in it (each its own job and speaker groups; files that are
not usable media are skipped and named). Deleting a source hides it and its samples (Undo: `restore`); its files
stay until it is purged.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlmodel import col, delete, select

from services.datasets import Ingestion
from services.datasets.ingest import check_file_name
from services.errors import Conflict, Invalid, NotFound
from services.jobs import FINISHED_STATES, JobChanged, JobDraft, JobQueue, ProgressSink
from services.media_store import MediaStore
from services.uploads import STAGING, receive_upload
from services.voice_samples.audio import download_audio, probe_audio
from services.voice_samples.chain import ChainOptions, ChainResult, VoiceFinder
from services.voice_samples.events import VoiceSamplesChanged
from services.voice_samples.matching import CastMember, GroupLine, SpeakerGroup, propose
from services.voice_samples.samples import VoiceSamples
from studio.clock import Clock
from studio.config import Settings
from studio.db import Database
from studio.events import EventBus
from studio.models import Character, Job, JobPriority, Project, VoiceSegment, VoiceSource, VoiceSpeaker

log = logging.getLogger(__name__)

VOICE_INGEST_JOB = "voice.ingest"
SOURCES_FOLDER = "voice-sources"
SOURCE_KINDS = ("url", "upload", "folder")
ACTIVE_STATES = ("queued", "running")
MAX_FOLDER_FILES = 200
MEDIA_SUFFIXES = frozenset(
    {".wav", ".mp3", ".flac", ".ogg", ".opus", ".m4a", ".aac", ".wma", ".mp4", ".mkv", ".webm", ".mov", ".avi",
     ".m4v", ".flv", ".ts", ".mpg", ".mpeg"}
)  # fmt: skip
# How the job's progress is shared out: the download (URLs), then the chain, then storing.
_DOWNLOAD_SHARE = 0.2


@dataclass(frozen=True)
class FolderSources:
    """What adding a folder queued: one source per usable file, and the files skipped with why."""

    sources: list[VoiceSource]
    skipped: list[str] = field(default_factory=list)


class VoiceSources:
    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        events: EventBus,
        clock: Clock,
        media: MediaStore,
        jobs: JobQueue,
        finder: VoiceFinder,
        samples: VoiceSamples,
        ingestion: Ingestion,
    ) -> None:
        self._settings = settings
        self._db = db
        self._events = events
        self._clock = clock
        self._media = media
        self._jobs = jobs
        self._finder = finder
        self._samples = samples
        self._ingestion = ingestion
        events.subscribe(JobChanged, self._job_changed)

    # --- adding sources ---------------------------------------------------------------------------------

    async def add_url(self, project_id: int, url: str, actor: str) -> VoiceSource:
        """Queue the speech of a video page or audio/video link (yt-dlp, audio only).

        NotFound: no such project. Invalid: not an http(s) URL. Conflict: the project is archived.
        """
        project = await self._project(project_id)
        url = url.strip()
        if (
            not url.lower().startswith(("http://", "https://"))
            or len(url) > 2000
            or any(ch.isspace() or not ch.isprintable() for ch in url)
        ):
            raise Invalid("url", "give the http(s) address of a video page or an audio or video file")
        return await self._queue(project, "url", url, url[:200], {}, actor)

    async def add_upload(self, project_id: int, name: str, chunks: AsyncIterator[bytes], actor: str) -> VoiceSource:
        """Queue the speech of an uploaded video or audio file; it is received and checked first.

        NotFound: no such project. Invalid (nothing kept): a bad name, larger than max_video_upload_mb, not media,
        no audio track, longer than voice_source_max_minutes. Conflict: the project is archived.
        """
        project = await self._project(project_id)
        check_file_name(name)
        staging = f"{STAGING}/voice-{os.urandom(8).hex()}"
        staged = self._media.path_of(f"{staging}/upload{_suffix(name)}")
        try:
            await receive_upload(chunks, staged, self._settings.max_video_upload_mb, "file", "max_video_upload_mb")
            await probe_audio(staged, name, self._settings.voice_source_max_minutes)
            source = await self._create(project, "upload", name, name[:200], actor)
            relative = f"{self._folder(source.id)}/upload{_suffix(name)}"  # type: ignore[arg-type]
            target = self._media.path_of(relative)
            await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
            await asyncio.to_thread(os.replace, staged, target)
        finally:
            await asyncio.to_thread(shutil.rmtree, self._media.path_of(staging), True)
        return await self._submit(source, {"file": relative}, actor)

    async def add_folder(self, project_id: int, folder: str, actor: str) -> FolderSources:
        """Queue every audio and video file in a folder inside the import folders, one source each.

        NotFound: no such project. Invalid: the folder is outside the import folders or not a folder, it holds
        no usable audio or video file (each refusal named), or too many. Conflict: the project is archived.
        """
        project = await self._project(project_id)
        resolved = await asyncio.to_thread(self._ingestion.allowed_folder, folder)
        files = await asyncio.to_thread(_media_files, resolved)
        if not files:
            raise Invalid("folder", f"{resolved} holds no audio or video files ({', '.join(sorted(MEDIA_SUFFIXES))})")
        if len(files) > MAX_FOLDER_FILES:
            raise Invalid(
                "folder", f"{resolved} holds {len(files)} media files; add at most {MAX_FOLDER_FILES} at once"
            )
        usable: list[Path] = []
        skipped: list[str] = []
        for path in files:
            try:
                await probe_audio(path, path.name, self._settings.voice_source_max_minutes)
            except Invalid as exc:
                skipped.append(f"{path.name}: {exc.message}")
                continue
            usable.append(path)
        if not usable:
            raise Invalid("folder", "no file in the folder can be used: " + "; ".join(skipped[:10]))
        sources = [await self._queue(project, "folder", str(path), path.name[:200], {}, actor) for path in usable]
        return FolderSources(sources, skipped)

    # --- reading and steering ---------------------------------------------------------------------------

    async def list(self, project_id: int, deleted: bool = False) -> builtins.list[VoiceSource]:
        """The project's sources, newest first (`deleted`: the deleted ones instead). NotFound: no such project."""
        await self._project(project_id, writable=False)
        deleted_at = col(VoiceSource.deleted_at)
        query = (
            select(VoiceSource)
            .where(VoiceSource.project_id == project_id, deleted_at.is_not(None) if deleted else deleted_at.is_(None))
            .order_by(col(VoiceSource.id).desc())
        )
        async with self._db.session() as session:
            return builtins.list((await session.exec(query)).all())

    async def get(self, source_id: int) -> VoiceSource:
        """NotFound: no such source."""
        async with self._db.session() as session:
            source = await session.get(VoiceSource, source_id)
        if source is None:
            raise NotFound(f"there is no voice source {source_id}")
        return source

    async def cancel(self, source_id: int, actor: str) -> VoiceSource:
        """Stop a queued or running ingestion. Conflict: it already ended."""
        source = await self.get(source_id)
        if source.state not in ACTIVE_STATES:
            raise Conflict(f"voice source {source_id} is {source.state}; only queued or running ones can be cancelled")
        if await self._jobs.unfinished(source.job_id) is not None:
            await self._jobs.cancel(source.job_id, actor)  # type: ignore[arg-type]  # its JobChanged ends the source
        source = await self.get(source_id)
        if source.state in ACTIVE_STATES:  # its job was gone: nothing else will end it
            source = await self._end(source_id, "cancelled", f"cancelled by {actor}", actor)
        return source

    async def delete(self, source_id: int, actor: str) -> VoiceSource:
        """Hide a source and its samples (its ingestion is cancelled); `restore` undoes it, files are kept.
        NotFound: no such source. Conflict: deleted already."""
        source = await self.get(source_id)
        if source.deleted_at is not None:
            raise Conflict(f"voice source {source_id} is deleted already")
        if source.state in ACTIVE_STATES:
            await self.cancel(source_id, actor)
        source = await self._update(source_id, deleted_at=self._clock.now())
        await self._announce(actor, source, "deleted", source.title)
        await self._samples.follow(await self._sample_owners(source_id), actor)
        return source

    async def restore(self, source_id: int, actor: str) -> VoiceSource:
        """Bring a deleted source back with its samples. NotFound: no such source. Conflict: not deleted."""
        source = await self.get(source_id)
        if source.deleted_at is None:
            raise Conflict(f"voice source {source_id} is not deleted")
        source = await self._update(source_id, deleted_at=None)
        await self._announce(actor, source, "restored", source.title)
        await self._samples.follow(await self._sample_owners(source_id), actor)
        return source

    async def purge(self, source_id: int, actor: str) -> None:
        """Remove a deleted source for good: its rows and files. Conflict: it is not deleted (delete it first)."""
        source = await self.get(source_id)
        if source.deleted_at is None:
            raise Conflict(f"voice source {source_id} is not deleted; delete it before purging it")
        async with self._db.session() as session:
            row = await session.get(VoiceSource, source_id)
            if row is not None:
                await session.delete(row)  # speakers and segments go with it (ON DELETE CASCADE)
        await asyncio.to_thread(shutil.rmtree, self._media.path_of(self._folder(source_id)), True)
        await self._announce(actor, source, "purged", source.title)

    # --- the job ----------------------------------------------------------------------------------------

    async def run(self, job: Job, progress: ProgressSink) -> dict[str, Any]:
        """Find the speech of a job's source: download or read it, run the chain, store speakers, segments and
        proposals (the cpu worker calls this for `voice.ingest` jobs)."""
        source = await self.get(int(job.payload["source_id"]))
        if source.deleted_at is not None:
            raise Invalid("source", f"voice source '{source.title}' was deleted; restore it and retry")
        folder = self._media.path_of(self._folder(source.id))  # type: ignore[arg-type]
        await asyncio.to_thread(_clear, folder)  # a retry starts clean
        await self._update(source.id, state="running", error=None)  # type: ignore[arg-type]
        try:
            audio = await self._audio(source, job, folder, progress)
            names = tuple(member.name for member in await self._cast(source.project_id))
            result = await self._finder.find(
                audio, folder, self._options(names), _scaled(progress, _DOWNLOAD_SHARE, 0.95)
            )
            if not result.segments:
                raise Invalid(
                    "source",
                    f"no speech found in {source.title or source.origin}"
                    + (f" (only {result.dropped_short} bits shorter than 1 s)" if result.dropped_short else "")
                    + ": is it music or silence? Lower voice_min_silence_ms only if speech was cut",
                )
            await progress(0.96, f"Storing {len(result.segments)} segments")
            summary = await self._store(source, result)
        except BaseException:
            await asyncio.shield(asyncio.to_thread(_clear, folder))
            raise
        finally:
            await asyncio.shield(asyncio.to_thread(shutil.rmtree, folder / "download", True))
        if source.kind == "upload":  # the segments are cut: the upload (up to max_video_upload_mb) is not needed
            await self._media.delete(job.payload["file"])
        source = await self.get(source.id)  # type: ignore[arg-type]
        await self._announce(job.created_by, source, "done", _describe(summary))
        await progress(1.0, _describe(summary))
        return {"source_id": source.id, **summary}

    async def _audio(self, source: VoiceSource, job: Job, folder: Path, progress: ProgressSink) -> Path:
        limit = self._settings.voice_source_max_minutes
        if source.kind == "url":
            await progress(0.01, f"Downloading {source.origin[:80]}")
            audio = await download_audio(
                source.origin,
                folder / "download",
                self._settings.max_video_upload_mb * 1024 * 1024,
                _scaled(progress, 0.0, _DOWNLOAD_SHARE),
            )
            name = source.origin
        elif source.kind == "upload":
            audio, name = self._media.path_of(job.payload["file"]), source.origin
        else:
            audio, name = Path(source.origin), Path(source.origin).name
        info = await probe_audio(audio, name, limit)
        await self._update(source.id, duration_seconds=_duration(info))  # type: ignore[arg-type]
        return audio

    async def _store(self, source: VoiceSource, result: ChainResult) -> dict[str, Any]:
        """The speakers, segments and proposals, in one transaction with the source's end."""
        groups: dict[int, list[GroupLine]] = {}
        for segment in result.segments:
            groups.setdefault(segment.speaker, []).append(GroupLine(segment.start, segment.transcript))
        cast = await self._cast(source.project_id)
        voices = await self._samples.voice_centroids(source.project_id)
        proposals = propose(
            [SpeakerGroup(label, lines, result.speakers[label]) for label, lines in groups.items()],
            cast,
            voices,
            self._settings.voice_match_similarity,
        )
        root = self._media.root
        async with self._db.session() as session:
            await session.exec(delete(VoiceSegment).where(col(VoiceSegment.source_id) == source.id))  # type: ignore[call-overload]
            await session.exec(delete(VoiceSpeaker).where(col(VoiceSpeaker.source_id) == source.id))  # type: ignore[call-overload]
            speakers: dict[int, VoiceSpeaker] = {}
            for label, vector in enumerate(result.speakers):
                proposal = proposals.get(label)
                speakers[label] = VoiceSpeaker(
                    source_id=source.id,  # type: ignore[arg-type]
                    label=label + 1,
                    proposed_character_id=proposal.character_id if proposal else None,
                    proposal_reason=proposal.reason if proposal else "",
                    centroid=np.asarray(vector, dtype=np.float32).tobytes(),
                )
            session.add_all(speakers.values())
            await session.flush()
            for found in result.segments:
                session.add(
                    VoiceSegment(
                        source_id=source.id,  # type: ignore[arg-type]
                        speaker_id=speakers[found.speaker].id,
                        start=round(found.start, 3),
                        end=round(found.end, 3),
                        duration=round(found.end - found.start, 3),
                        file=found.file.resolve().relative_to(root).as_posix(),
                        transcript=found.transcript,
                        snr_db=float(found.snr_db),
                        speaker_confidence=float(found.speaker_confidence),
                        quality=float(found.quality),
                        embedding=np.asarray(found.embedding, dtype=np.float32).tobytes(),
                    )
                )
            summary = {
                "segments": len(result.segments),
                "speakers": len(result.speakers),
                "dropped_short": result.dropped_short,
                "speech_seconds": round(sum(s.end - s.start for s in result.segments), 1),
                "proposals": len(proposals),
            }
            row = await session.get(VoiceSource, source.id)
            if row is not None:
                row.state = "done"
                row.error = None
                row.language = (result.language or "")[:8]
                row.duration_seconds = round(result.duration, 3)
                row.summary = summary
                session.add(row)
        return summary

    def _options(self, names: tuple[str, ...]) -> ChainOptions:
        settings = self._settings  # read each time: these settings are live-editable
        return ChainOptions(
            min_silence_ms=settings.voice_min_silence_ms,
            speaker_similarity=settings.voice_speaker_similarity,
            language=settings.voice_language,
            names=names,
        )

    async def _cast(self, project_id: int) -> builtins.list[CastMember]:
        """The project's characters, whom the transcripts may name."""
        query = select(Character).where(Character.project_id == project_id, col(Character.deleted_at).is_(None))
        async with self._db.session() as session:
            characters = (await session.exec(query)).all()
        return [CastMember(c.id, c.name) for c in characters]  # type: ignore[arg-type]

    # --- keeping sources and jobs in step ---------------------------------------------------------------

    async def _job_changed(self, event: JobChanged) -> None:
        if event.kind != VOICE_INGEST_JOB:
            return
        async with self._db.session() as session:
            source = (await session.exec(select(VoiceSource).where(VoiceSource.job_id == event.job_id))).first()
        if source is None:
            return
        if event.state in ("failed", "cancelled"):
            await self._end(source.id, event.state, event.error or event.state, event.actor)  # type: ignore[arg-type]
        elif event.change in ("requeued", "retried"):
            await self._update(source.id, state="queued", error=None)  # type: ignore[arg-type]
        elif event.state == "running" and source.state == "queued":
            await self._update(source.id, state="running")  # type: ignore[arg-type]

    async def reconcile(self) -> int:
        """On start: a source whose job ended (or vanished) while the studio was down takes the job's end."""
        query = select(VoiceSource).where(col(VoiceSource.state).in_(ACTIVE_STATES))
        async with self._db.session() as session:
            sources = builtins.list((await session.exec(query)).all())
        changed = 0
        for source in sources:
            try:
                job = None if source.job_id is None else await self._jobs.get(source.job_id)
            except NotFound:  # deleted between the two reads
                job = None
            if job is None:
                await self._end(source.id, "failed", "its job no longer exists; add the source again", "studio")  # type: ignore[arg-type]
            elif job.state in FINISHED_STATES and job.state.value != "succeeded":
                await self._end(source.id, job.state.value, job.error or job.state.value, "studio")  # type: ignore[arg-type]
            else:
                continue
            changed += 1
        return changed

    async def _end(self, source_id: int, state: str, error: str, actor: str) -> VoiceSource:
        source = await self._update(source_id, state=state, error=error)
        await self._announce(actor, source, state, error)
        return source

    # --- helpers ----------------------------------------------------------------------------------------

    async def _queue(
        self, project: Project, kind: str, origin: str, title: str, payload: dict[str, Any], actor: str
    ) -> VoiceSource:
        source = await self._create(project, kind, origin, title, actor)
        return await self._submit(source, payload, actor)

    async def _create(self, project: Project, kind: str, origin: str, title: str, actor: str) -> VoiceSource:
        source = VoiceSource(
            project_id=project.id,  # type: ignore[arg-type]
            kind=kind,
            origin=origin,
            title=title,
            state="queued",
            created_by=actor[:100],
        )
        async with self._db.session() as session:
            session.add(source)
        return source

    async def _submit(self, source: VoiceSource, payload: dict[str, Any], actor: str) -> VoiceSource:
        draft = JobDraft(
            kind=VOICE_INGEST_JOB,
            payload={"source_id": source.id, **payload},
            title=f"Voices from {source.title or source.origin}"[:200],
            priority=JobPriority.INTERACTIVE,
            project_id=source.project_id,
        )
        try:
            (job,) = await self._jobs.submit([draft], actor)
        except BaseException:
            async with self._db.session() as session:  # never queued: no source left behind
                row = await session.get(VoiceSource, source.id)
                if row is not None:
                    await session.delete(row)
            raise
        source = await self._update(source.id, job_id=job.id)  # type: ignore[arg-type]
        await self._announce(actor, source, "added", f"{source.kind} {source.title}")
        return source

    async def _project(self, project_id: int, writable: bool = True) -> Project:
        async with self._db.session() as session:
            project = await session.get(Project, project_id)
        if project is None:
            raise NotFound(f"there is no project {project_id}")
        if writable and project.archived_at is not None:
            raise Conflict(f"project '{project.name}' is archived; restore it before adding voice sources")
        return project

    async def _update(self, source_id: int, **values: Any) -> VoiceSource:
        async with self._db.session() as session:
            source = await session.get(VoiceSource, source_id)
            if source is None:
                raise NotFound(f"there is no voice source {source_id}")
            for key, value in values.items():
                setattr(source, key, value)
            session.add(source)
        return source

    async def _sample_owners(self, source_id: int) -> set[int | None]:
        query = select(VoiceSegment.character_id).where(
            VoiceSegment.source_id == source_id, VoiceSegment.decision == "approved"
        )
        async with self._db.session() as session:
            return set((await session.exec(query)).all())

    def _folder(self, source_id: int) -> str:
        return f"{SOURCES_FOLDER}/{source_id}"

    async def _announce(self, actor: str, source: VoiceSource, change: str, detail: str | None) -> None:
        await self._events.emit(
            VoiceSamplesChanged(
                actor=actor,
                project_id=source.project_id,
                source_id=source.id,
                change=change,
                detail=(detail or "")[:500],
            )
        )


def _scaled(progress: ProgressSink, start: float, end: float) -> Callable[[float, str], Awaitable[None]]:
    async def report(fraction: float, message: str) -> None:
        await progress(start + (end - start) * max(0.0, min(1.0, fraction)), message)

    return report


def _suffix(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return suffix if suffix in MEDIA_SUFFIXES else ""


def _media_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in MEDIA_SUFFIXES and p.is_file())


def _clear(folder: Path) -> None:
    """Remove what an earlier attempt cut (segments, downloads); an upload waiting in the folder stays."""
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if path.name == "download":
            shutil.rmtree(path, ignore_errors=True)
        elif path.is_file() and path.name.startswith(("seg_", ".seg_")):
            path.unlink(missing_ok=True)


def _duration(info: Any) -> float | None:
    seconds = getattr(info, "duration_seconds", None) or getattr(info, "duration", None)
    return round(float(seconds), 3) if seconds else None


def _describe(summary: dict[str, Any]) -> str:
    return (
        f"{summary['segments']} segments from {summary['speakers']} speaker(s), "
        f"{summary['speech_seconds']:g} s of speech"
        + (f", {summary['proposals']} proposed" if summary.get("proposals") else "")
    )
