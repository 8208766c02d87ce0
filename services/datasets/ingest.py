"""Bringing images into a character's dataset: uploads, folder scans, ComfyUI output scans, videos, URLs.

Each request is checked at once (bad files, names, folders and URLs are refused before anything is
written), then runs as a CPU job with progress: the job adds every image through `DatasetStore` (content
hash names, dedup) and hands the new ones to `Curation` (triage, vision review).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from sqlmodel import col, select

from services.comfyui import ComfyClient, OutputFile
from services.datasets.curation import Curation
from services.datasets.store import GENERATED_SOURCE, Admission, DatasetStore, NewImage
from services.errors import Invalid, StudioError
from services.imaging import MAX_UPLOAD_BYTES, check_image
from services.jobs import JobDraft, JobFilter, JobQueue, ProgressSink
from services.media import VIDEO_CONTAINERS, FramePlan, download_video, extract_frames, probe_video
from services.media_store import MediaStore
from services.uploads import STAGING, receive_upload
from studio.config import Settings
from studio.db import Database
from studio.models import Character, DatasetImage, Job, JobPriority, JobState
from workflows import STUDIO_OUTPUT_FOLDER

INGEST_IMAGES = "ingest.images"
INGEST_VIDEO = "ingest.video"
INGEST_URL = "ingest.url"
INGEST_SCAN = "ingest.scan"
INGEST_KINDS = (INGEST_IMAGES, INGEST_VIDEO, INGEST_URL, INGEST_SCAN)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp"})
MAX_FILES_PER_UPLOAD = 1000
MAX_SCAN_FILES = 20_000
INBOX = "inbox"
_REFS_PER_QUERY = 500  # bound parameters per IN (...): far below SQLite's and PostgreSQL's limits
# Archive signatures: refused with a message that says what to do instead.
_ARCHIVES = ((b"PK\x03\x04", "ZIP"), (b"\x1f\x8b", "gzip"), (b"7z\xbc\xaf\x27\x1c", "7-Zip"), (b"Rar!", "RAR"))


@dataclass(frozen=True)
class UploadedFile:
    """One file of an upload, read as it arrives: the studio never holds a whole upload in memory."""

    name: str
    chunks: AsyncIterator[bytes]


def check_file_name(name: str) -> str:
    """A plain file name (no folders, no tricks). Invalid otherwise; the name is only ever shown, not used."""
    if not name or len(name) > 255:
        raise Invalid("files", "every file needs a name of 1 to 255 characters")
    if any(ord(ch) < 32 for ch in name) or "/" in name or "\\" in name or name in (".", ".."):
        raise Invalid("files", f"'{name[:80]!s}' is not a plain file name (no folders, '..' or control characters)")
    return name


def refuse_archive(data: bytes) -> None:
    for magic, kind in _ARCHIVES:
        if data.startswith(magic) or (kind == "ZIP" and data[:4] == b"PK\x05\x06"):
            raise Invalid("files", f"{kind} archives are not accepted; extract the images and upload them")
    if len(data) > 262 and data[257:262] == b"ustar":
        raise Invalid("files", "tar archives are not accepted; extract the images and upload them")


def check_staged_image(path: Path) -> None:
    """Raise Invalid when the received file at `path` is not an acceptable image."""
    data = path.read_bytes()  # at most MAX_UPLOAD_BYTES: receive_upload refused anything larger
    refuse_archive(data)
    check_image(data, "files")


class Ingestion:
    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        media: MediaStore,
        jobs: JobQueue,
        store: DatasetStore,
        curation: Curation,
    ) -> None:
        self._settings = settings
        self._db = db
        self._media = media
        self._jobs = jobs
        self._store = store
        self._curation = curation

    # --- requests (checked now, run as jobs) ------------------------------------------------------

    async def ingest_images(self, character_id: int, files: list[UploadedFile], actor: str) -> Job:
        """Queue uploaded images. Invalid (nothing kept): no files, too many, or any bad file or name.

        Each file is received into the staging folder and checked before the next one is read, so a
        request holds at most one file in memory however many it sends."""
        character = await self._character(character_id)
        if not files:
            raise Invalid("files", "choose at least one image")
        if len(files) > MAX_FILES_PER_UPLOAD:
            raise Invalid("files", f"upload at most {MAX_FILES_PER_UPLOAD} files at once (or use a folder scan)")
        folder = self._new_staging()
        staged, problems = [], []
        try:
            for index, file in enumerate(files):
                try:
                    check_file_name(file.name)
                except Invalid as exc:
                    problems.append(exc.message)
                    continue
                relative = f"{folder}/{index:05d}"
                path = self._media.path_of(relative)
                try:
                    await receive_upload(file.chunks, path, MAX_UPLOAD_BYTES // 2**20, "image")
                    await asyncio.to_thread(check_staged_image, path)
                except Invalid as exc:
                    problems.append(f"{file.name}: {exc.message}")
                    continue
                staged.append({"path": relative, "name": file.name})
            if problems:
                raise Invalid(
                    "files",
                    f"{len(problems)} of {len(files)} files refused, nothing was added: "
                    + "; ".join(problems[:10])
                    + (" …" if len(problems) > 10 else ""),
                )
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, self._media.path_of(folder), True)
            raise
        return await self._submit(
            character, INGEST_IMAGES, {"staged": staged, "staging": folder}, f"Upload of {len(files)} image(s)", actor
        )

    async def ingest_video(
        self, character_id: int, name: str, chunks: AsyncIterator[bytes], actor: str, plan: FramePlan | None = None
    ) -> Job:
        """Queue frame extraction from an uploaded video. Invalid: too large, or not a video (nothing kept)."""
        character = await self._character(character_id)
        check_file_name(name)
        folder = self._new_staging()
        relative = f"{folder}/video"
        path = self._media.path_of(relative)
        try:
            await receive_upload(chunks, path, self._settings.max_video_upload_mb, "video", "max_video_upload_mb")
            await probe_video(path, VIDEO_CONTAINERS, name)
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, self._media.path_of(folder), True)
            raise
        payload = {"video": relative, "name": name, "staging": folder, "plan": self._plan(plan)}
        return await self._submit(character, INGEST_VIDEO, payload, f"Frames from {name}", actor)

    async def ingest_url(self, character_id: int, url: str, actor: str, plan: FramePlan | None = None) -> Job:
        """Queue a download (yt-dlp) and frame extraction. Invalid: not an http(s) URL."""
        character = await self._character(character_id)
        url = url.strip()
        if not url.lower().startswith(("http://", "https://")) or len(url) > 2000:
            raise Invalid("url", "give an http(s) address of a video page or file")
        payload = {"url": url, "staging": self._new_staging(), "plan": self._plan(plan)}
        return await self._submit(character, INGEST_URL, payload, f"Frames from {url[:80]}", actor)

    async def scan_folder(self, character_id: int, folder: str, actor: str) -> Job:
        """Queue an import of the images in a folder. Invalid: not an allowed folder or not a folder."""
        character = await self._character(character_id)
        resolved = self.allowed_folder(folder)
        return await self._submit(character, INGEST_SCAN, {"folder": str(resolved)}, f"Images from {resolved}", actor)

    async def scan_comfyui(self, character_id: int, device: str, actor: str) -> Job:
        """Queue an import of the images in a ComfyUI device's history. Invalid: not a ComfyUI device."""
        character = await self._character(character_id)
        if device not in self._settings.comfyui_devices:
            choices = ", ".join(self._settings.comfyui_devices) or "none configured"
            raise Invalid("device", f"'{device}' is not a ComfyUI device ({choices})")
        return await self._submit(character, INGEST_SCAN, {"device": device}, f"ComfyUI outputs on {device}", actor)

    def import_roots(self) -> list[Path]:
        """Folders a scan may read: the data folder's inbox and the `import_folders` setting."""
        inbox = self._settings.data_dir / INBOX
        inbox.mkdir(parents=True, exist_ok=True)
        return [inbox.resolve(), *(Path(p).expanduser().resolve() for p in self._settings.import_folders)]

    def allowed_folder(self, folder: str) -> Path:
        roots = self.import_roots()
        candidate = Path(folder.strip()).expanduser()
        if not candidate.is_absolute():
            candidate = roots[0] / candidate
        resolved = candidate.resolve()
        if not any(resolved.is_relative_to(root) for root in roots):
            allowed = ", ".join(str(r) for r in roots)
            raise Invalid(
                "folder",
                f"{resolved} is outside the import folders ({allowed}); add it to the "
                "import_folders setting to allow it",
            )
        if not resolved.is_dir():
            raise Invalid("folder", f"{resolved} is not a folder")
        return resolved

    async def sweep_staging(self, older_than: float = 3600.0) -> int:
        """Remove staged uploads no job can use any more (queued, running and failed jobs keep theirs).

        Only folders older than `older_than` seconds go, so an upload another studio process is receiving
        right now is left alone. Returns how many folders were removed.
        """
        root = self._media.path_of(STAGING)
        if not root.is_dir():
            return 0
        kept = set()
        for state in (JobState.QUEUED, JobState.RUNNING, JobState.FAILED):
            for job in await self._jobs.list(JobFilter(states=(state,), limit=10_000)):
                if job.kind in INGEST_KINDS and job.payload.get("staging"):
                    kept.add(PurePosixPath(job.payload["staging"]).name)
        cutoff = time.time() - older_than

        def sweep() -> int:
            removed = 0
            for folder in root.iterdir():
                if folder.name not in kept and folder.stat().st_mtime < cutoff:
                    shutil.rmtree(folder, ignore_errors=True)
                    removed += 1
            return removed

        return await asyncio.to_thread(sweep)

    # --- running ----------------------------------------------------------------------------------

    async def run(self, job: Job, progress: ProgressSink) -> dict[str, Any]:
        """Run one ingest job (the CPU worker calls this through the handlers below)."""
        character = await self._character(job.payload["character_id"])
        # Staged uploads stay when a job fails, so Retry has them; downloads are simply fetched again.
        keep_staging = job.kind != INGEST_URL
        try:
            if job.kind == INGEST_IMAGES:
                result = await self._run_uploads(job, character, progress)
            elif job.kind in (INGEST_VIDEO, INGEST_URL):
                result = await self._run_video(job, character, progress)
            elif "device" in job.payload:
                result = await self._run_comfyui_scan(job, character, progress)
            else:
                result = await self._run_folder_scan(job, character, progress)
            keep_staging = False
            return result
        except asyncio.CancelledError:
            keep_staging = False
            raise
        finally:
            if not keep_staging:
                await self._clean_staging(job)

    async def _run_uploads(self, job: Job, character: Character, progress: ProgressSink) -> dict[str, Any]:
        staged = job.payload["staged"]

        async def load(index: int) -> NewImage:
            item = staged[index]
            data = await self._media.read(item["path"])
            return NewImage(data, "upload", item["name"], {"original_name": item["name"]})

        return await self._add_all(job, character, [item["name"] for item in staged], load, progress)

    async def _run_folder_scan(self, job: Job, character: Character, progress: ProgressSink) -> dict[str, Any]:
        folder = self.allowed_folder(job.payload["folder"])
        await progress(0.0, f"Looking for images in {folder}")
        files = await asyncio.to_thread(_image_files, folder)

        names = [str(path.relative_to(folder)) for path in files]

        async def load(index: int) -> NewImage:
            path = files[index]
            if not path.resolve().is_relative_to(folder):
                raise Invalid("file", "a link that leads outside the folder")
            if path.stat().st_size > MAX_UPLOAD_BYTES:
                raise Invalid("file", f"larger than {MAX_UPLOAD_BYTES // 2**20} MB")
            data = await asyncio.to_thread(path.read_bytes)
            return NewImage(data, "folder", str(path), {"original_name": names[index], "folder": str(folder)})

        return await self._add_all(job, character, names, load, progress)

    async def _run_comfyui_scan(self, job: Job, character: Character, progress: ProgressSink) -> dict[str, Any]:
        device = job.payload["device"]
        url = self._settings.comfyui_devices.get(device)
        if url is None:
            raise Invalid("device", f"device '{device}' no longer has a ComfyUI server")
        client = ComfyClient(url, timeout=max(30.0, self._settings.backend_timeout_seconds))
        try:
            await progress(0.0, f"Reading the history of {device}")
            found = [
                (outcome.prompt_id, file)
                for outcome in await client.recent()
                if outcome.status == "success"
                for file in outcome.outputs
                if file.is_image and file.type == "output"
            ]
            generated = await self._generated_refs([_source_ref(prompt_id, file) for prompt_id, file in found])
            # The studio's own generations are in the dataset of the character they were made for already;
            # scanned again they would land in this one's too.
            outputs = [
                (prompt_id, file)
                for prompt_id, file in found
                if not _in_studio_folder(file) and _source_ref(prompt_id, file) not in generated
            ]

            async def load(index: int) -> NewImage:
                prompt_id, file = outputs[index]
                data = await client.download(file)
                provenance = {"device": device, "backend": url, "prompt_id": prompt_id, "output": file.filename}
                return NewImage(data, "comfyui_scan", _source_ref(prompt_id, file), provenance)

            names = [file.filename for _, file in outputs]
            result = await self._add_all(job, character, names, load, progress)
            return {**result, "own_generations_skipped": len(found) - len(outputs)}
        finally:
            await client.aclose()

    async def _run_video(self, job: Job, character: Character, progress: ProgressSink) -> dict[str, Any]:
        payload = job.payload
        staging = self._media.path_of(payload["staging"])
        frames_dir = staging / "frames"
        await asyncio.to_thread(shutil.rmtree, frames_dir, True)  # a retry starts clean
        frames_dir.mkdir(parents=True, exist_ok=True)
        plan = FramePlan(**payload["plan"])
        if job.kind == INGEST_URL:
            source, name = "url", payload["url"]
            limit = self._settings.max_video_upload_mb * 1024 * 1024

            async def downloading(fraction: float, message: str) -> None:
                await progress(0.3 * fraction, message)

            video = await download_video(name, staging / "download", max_bytes=limit, progress=downloading)
        else:
            source, name = "video", payload["name"]
            video = self._media.path_of(payload["video"])

        async def extracting(fraction: float, message: str) -> None:
            await progress(0.3 + 0.3 * fraction, message)

        frames = await extract_frames(video, frames_dir, plan, extracting)

        async def load(index: int) -> NewImage:
            frame = frames[index]
            data = await asyncio.to_thread(frame.path.read_bytes)
            provenance = {"video": name, "time_seconds": frame.time_seconds, "frame_reason": frame.reason}
            return NewImage(data, source, f"{name}@{frame.time_seconds:.2f}s", provenance)

        names = [f"{name} @ {frame.time_seconds:.2f}s" for frame in frames]
        return await self._add_all(job, character, names, load, progress, start=0.6)

    async def _add_all(
        self,
        job: Job,
        character: Character,
        names: list[str],
        load: Callable[[int], Awaitable[NewImage]],
        progress: ProgressSink,
        start: float = 0.0,
    ) -> dict[str, Any]:
        """Add `count` images one by one; a bad one is reported in the result and the rest go on."""
        admissions: list[Admission] = []
        refused: list[dict[str, str]] = []
        count = len(names)
        for index, name in enumerate(names):
            try:
                admissions.append(await self._store.add(character, await load(index), job.created_by))
            except (StudioError, OSError) as exc:
                refused.append({"name": name, "error": getattr(exc, "message", None) or str(exc)})
            await progress(start + (1 - start) * 0.9 * (index + 1) / max(count, 1), f"{index + 1} of {count} images")
        await progress(start + (1 - start) * 0.9, "Checking the new images")
        summary = await self._curation.admit(admissions, job.created_by)
        if count and not admissions:
            raise Invalid("files", f"none of the {count} files could be added: {refused[0]['error']}")
        return {
            "character_id": character.id,
            "found": count,
            "added": summary.added,
            "duplicates": summary.duplicates,
            "already_present": sum(1 for a in admissions if a.outcome == "already_present"),
            "triage_rejected": summary.triage_rejected,
            "queued_for_vision": summary.queued_for_vision,
            "review_job_id": summary.review_job_id,
            "refused": refused[:100],
            "image_ids": [a.image.id for a in admissions],
        }

    # --- helpers ----------------------------------------------------------------------------------

    async def _generated_refs(self, refs: list[str]) -> set[str]:
        """Which of these ComfyUI outputs the studio stored as its own generations (any character's)."""
        known: set[str] = set()
        async with self._db.session() as session:
            for start in range(0, len(refs), _REFS_PER_QUERY):
                chunk = refs[start : start + _REFS_PER_QUERY]
                query = select(DatasetImage.source_ref).where(
                    DatasetImage.source == GENERATED_SOURCE, col(DatasetImage.source_ref).in_(chunk)
                )
                known.update((await session.exec(query)).all())
        return known

    async def _character(self, character_id: int) -> Character:
        async with self._db.session() as session:
            character = await session.get(Character, character_id)
        if character is None:
            raise Invalid("character_id", f"character {character_id} does not exist")
        if character.deleted_at is not None:
            raise Invalid("character_id", f"{character.name} is deleted; restore it first")
        return character

    async def _submit(self, character: Character, kind: str, payload: dict[str, Any], title: str, actor: str) -> Job:
        draft = JobDraft(
            kind=kind,
            payload={"character_id": character.id, **payload},
            title=f"{character.name} · {title}",
            priority=JobPriority.INTERACTIVE,
            project_id=character.project_id,
        )
        return (await self._jobs.submit([draft], actor))[0]

    def _plan(self, plan: FramePlan | None) -> dict[str, Any]:
        settings = self._settings
        plan = plan or FramePlan(
            max_frames=settings.video_max_frames,
            interval_seconds=settings.video_interval_seconds,
            scene_threshold=settings.video_scene_threshold,
        )
        return {
            "max_frames": plan.max_frames,
            "interval_seconds": plan.interval_seconds,
            "scene_threshold": plan.scene_threshold,
            "width": plan.width,
        }

    def _new_staging(self) -> str:
        return f"{STAGING}/{uuid.uuid4().hex}"

    async def _clean_staging(self, job: Job) -> None:
        folder = job.payload.get("staging")
        if folder:
            await asyncio.to_thread(shutil.rmtree, self._media.path_of(folder), True)


class IngestJobHandler:
    """One CPU job handler per ingest kind, all backed by `Ingestion.run`."""

    def __init__(self, kind: str, ingestion: Ingestion) -> None:
        self.kind = kind
        self._ingestion = ingestion

    async def run(self, job: Job, progress: ProgressSink) -> dict[str, Any]:
        return await self._ingestion.run(job, progress)


def _source_ref(prompt_id: str, file: OutputFile) -> str:
    """How a ComfyUI output is named in `DatasetImage.source_ref`, by generation and by scan alike."""
    return f"comfyui:{prompt_id}/{file.subfolder}/{file.filename}"


def _in_studio_folder(file: OutputFile) -> bool:
    # Files the studio's graphs saved: this holds even for generations whose rows are gone.
    return file.subfolder == STUDIO_OUTPUT_FOLDER or file.subfolder.startswith(f"{STUDIO_OUTPUT_FOLDER}/")


def _image_files(folder: Path) -> list[Path]:
    """Image files under `folder`, sorted, hidden ones and links to folders skipped, at most MAX_SCAN_FILES."""
    found: list[Path] = []
    for root, dirs, names in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if not name.startswith(".") and PurePosixPath(name).suffix.lower() in IMAGE_SUFFIXES:
                found.append(Path(root) / name)
                if len(found) > MAX_SCAN_FILES:
                    raise Invalid("folder", f"{folder} holds more than {MAX_SCAN_FILES} images; scan its subfolders")
    return found
