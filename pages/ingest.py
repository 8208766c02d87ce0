"""Add images: bring pictures into a character's dataset from uploads, videos, URLs, folders and ComfyUI.

Every import runs as a job; the page lists this project's recent imports live, each with what it added,
what dedup and triage caught, and which files it refused and why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from nicegui import events, ui
from starlette.requests import Request

from components.character_references import problem_text
from components.job_progress import cancel_job, job_buttons, live_progress, retry_job, state_chip
from components.project_context import no_project_yet, project_for_page, project_picker
from components.shell import Area, frame, principal_of, studio_page
from services.connections import ConnectionChanged
from services.datasets import INGEST_KINDS, UploadedFile
from services.errors import StudioError
from services.imaging import MAX_UPLOAD_BYTES
from services.jobs import JobChanged, JobFilter, JobProgressed
from services.media import FramePlan
from studio.config import CONNECTIONS_URL
from studio.models import Job, JobState, Project
from studio.root import Studio

IMAGE_TYPES = "image/png,image/jpeg,image/webp"
VIDEO_TYPES = "video/*,.mkv,.webm,.mp4,.mov"
RECENT_IMPORTS = 10
# One drop of images arrives in one request; NiceGUI keeps each file under 1 MB in memory until we read it.
MAX_FILES_PER_DROP = 200
MAX_DROP_BYTES = 2**30


def register(studio: Studio, areas: Sequence[Area]) -> None:
    @studio_page("/datasets/add")
    async def ingest_page(request: Request) -> None:
        async with frame(studio, request, "Add images", areas) as content:
            project = await project_for_page(studio, request)
            with content:
                with ui.row().classes("w-full items-center gap-3"):
                    await project_picker(studio, project, "/datasets/add")
                if project is None:
                    no_project_yet()
                    return
                wanted = request.query_params.get("character", "")
                view = IngestView(studio, project, principal_of(request).name)
                built = await view.build(int(wanted) if wanted.isdigit() else None)
            if built:
                await view.reload_imports()


class IngestView:
    def __init__(self, studio: Studio, project: Project, actor: str) -> None:
        self.studio, self.project, self.actor = studio, project, actor
        self.settings = studio.settings
        self.live: dict[int, Any] = {}
        self.lock = asyncio.Lock()

    async def build(self, wanted_character: int | None) -> bool:
        """Build the page; False when the project has no character to import into."""
        cards = await self.studio.characters.cards(self.project.id)  # type: ignore[arg-type]
        characters = {card.character.id: card.character.name for card in cards}
        if not characters:
            with ui.card().classes("w-full"):
                ui.label("This project has no characters yet.").classes("text-lg")
                ui.link("Create a character first", f"/characters?project={self.project.id}")
            return False
        chosen = wanted_character if wanted_character in characters else next(iter(characters))
        with ui.row().classes("w-full items-center gap-3"):
            self.character = ui.select(characters, value=chosen, label="Into the dataset of").classes("w-64")
            self.character.props("outlined dense").mark("ingest-character")
            ui.link("Review the dataset", f"/datasets?project={self.project.id}").mark("to-datasets")
        self.problems = ui.column().classes("w-full gap-1")
        with ui.card().classes("w-full"):
            with ui.tabs().classes("w-full") as tabs:
                upload_tab = ui.tab("Images", icon="image")
                video_tab = ui.tab("Video file", icon="movie")
                url_tab = ui.tab("Video URL", icon="link")
                folder_tab = ui.tab("Folder", icon="folder")
                comfy_tab = ui.tab("ComfyUI outputs", icon="dns")
            with ui.tab_panels(tabs, value=upload_tab).classes("w-full"):
                with ui.tab_panel(upload_tab):
                    self._upload_panel()
                with ui.tab_panel(video_tab):
                    self._video_panel()
                with ui.tab_panel(url_tab):
                    self._url_panel()
                with ui.tab_panel(folder_tab):
                    self._folder_panel()
                with ui.tab_panel(comfy_tab):
                    self.comfy_host = ui.column().classes("w-full gap-2")
                    self._comfy_panel()
        ui.label("Recent imports").classes("text-lg font-semibold mt-2")
        self.imports = ui.column().classes("w-full gap-2").mark("imports")
        unsubscribe = [
            self.studio.events.subscribe(JobChanged, self._on_job_changed),
            self.studio.events.subscribe(JobProgressed, self._on_progress),
            self.studio.events.subscribe(ConnectionChanged, self._on_connection_changed),
        ]
        ui.context.client.on_disconnect(lambda: [stop() for stop in unsubscribe])
        return True

    # --- the sources ----------------------------------------------------------------------------

    def _upload_panel(self) -> None:
        ui.label(
            f"PNG, JPEG or WebP, up to {MAX_UPLOAD_BYTES // 2**20} MB each and {MAX_FILES_PER_DROP} at once. "
            "Files are named by their content, so the same picture is never stored twice."
        ).classes("text-sm opacity-70")

        async def uploaded(e: events.MultiUploadEventArguments) -> None:
            files = [UploadedFile(f.name or "", f.iterate()) for f in e.files]
            e.sender.reset()  # type: ignore[attr-defined]
            await self._start(lambda cid: self.studio.ingestion.ingest_images(cid, files, self.actor))

        ui.upload(
            multiple=True,
            auto_upload=True,
            max_file_size=MAX_UPLOAD_BYTES,
            max_files=MAX_FILES_PER_DROP,
            max_total_size=MAX_DROP_BYTES,
            label="Drop images here or choose them",
            on_multi_upload=uploaded,
            on_rejected=lambda: self._problem(
                f"Some files were refused before upload: only PNG, JPEG or WebP up to {MAX_UPLOAD_BYTES // 2**20} MB, "
                f"at most {MAX_FILES_PER_DROP} files and {MAX_DROP_BYTES // 2**30} GB at once"
            ),
        ).props(f'accept="{IMAGE_TYPES}" flat bordered').classes("w-full").mark("image-upload")

    def _frame_options(self) -> tuple[ui.number, ui.number, ui.number]:
        s = self.settings
        with ui.row().classes("gap-3 items-start"):
            most = ui.number("Most frames", value=s.video_max_frames, min=1, max=2000, precision=0)
            every = ui.number("At least one frame every (s)", value=s.video_interval_seconds, min=0.1, max=3600)
            scene = ui.number("Scene change threshold", value=s.video_scene_threshold, min=0.01, max=0.99, step=0.05)
        for field in (most, every, scene):
            field.props("outlined dense").classes("w-48")
        return most, every, scene

    def _plan(self, options: tuple[ui.number, ui.number, ui.number]) -> FramePlan:
        most, every, scene = options
        s = self.settings
        return FramePlan(
            max_frames=int(most.value or s.video_max_frames),
            interval_seconds=float(every.value or s.video_interval_seconds),
            scene_threshold=float(scene.value or s.video_scene_threshold),
        )

    def _video_panel(self) -> None:
        ui.label(
            "Frames are taken at every scene change and at least every few seconds, up to the cap; "
            "near-identical frames are caught as duplicates."
        ).classes("text-sm opacity-70")
        options = self._frame_options()

        async def uploaded(e: events.UploadEventArguments) -> None:
            name = e.file.name or "video"
            await self._start(
                lambda cid: self.studio.ingestion.ingest_video(
                    cid, name, e.file.iterate(), self.actor, self._plan(options)
                )
            )
            e.sender.reset()  # type: ignore[attr-defined]

        ui.upload(
            auto_upload=True,
            max_file_size=self.settings.max_video_upload_mb * 2**20,
            label="Drop a video here or choose one",
            on_upload=uploaded,
            on_rejected=lambda: self._problem(
                f"The video was refused before upload: at most {self.settings.max_video_upload_mb} MB"
            ),
        ).props(f'accept="{VIDEO_TYPES}" flat bordered').classes("w-full").mark("video-upload")

    def _url_panel(self) -> None:
        ui.label("A video page or file (yt-dlp downloads it), then frames as for a video file.").classes(
            "text-sm opacity-70"
        )
        url = ui.input("Address", placeholder="https://…").props("outlined dense").classes("w-full").mark("video-url")
        options = self._frame_options()
        ui.button(
            "Take frames",
            icon="download",
            on_click=lambda: self._start(
                lambda cid: self.studio.ingestion.ingest_url(cid, url.value or "", self.actor, self._plan(options))
            ),
        ).mark("ingest-url")

    def _folder_panel(self) -> None:
        roots = self.studio.ingestion.import_roots()
        ui.label("Imports every PNG, JPEG and WebP in a folder and its subfolders. Allowed folders:").classes(
            "text-sm opacity-70"
        )
        for root in roots:
            ui.label(str(root)).classes("text-sm font-mono")
        ui.label("Add more with the import_folders setting.").classes("text-xs opacity-60")
        folder = ui.input("Folder", value=str(roots[0])).props("outlined dense").classes("w-full").mark("folder")
        ui.button(
            "Scan folder",
            icon="folder_open",
            on_click=lambda: self._start(
                lambda cid: self.studio.ingestion.scan_folder(cid, folder.value or "", self.actor)
            ),
        ).mark("scan-folder")

    def _comfy_panel(self) -> None:
        """The ComfyUI devices to import from, as connected now (drawn again when Connections change)."""
        self.comfy_host.clear()
        with self.comfy_host:
            self._comfy_choices()

    def _comfy_choices(self) -> None:
        devices = list(self.settings.comfyui_devices)
        if not devices:
            ui.label("No device has a ComfyUI server yet.").mark("no-comfy-device")
            ui.link("Connect a GPU box in Settings → Connections", CONNECTIONS_URL)
            return
        ui.label("Imports the images in the ComfyUI server's history (it keeps the newest prompts).").classes(
            "text-sm opacity-70"
        )
        device = ui.select(devices, value=devices[0], label="Device").props("outlined dense").classes("w-48")
        device.mark("comfy-device")
        ui.button(
            "Import outputs",
            icon="cloud_download",
            on_click=lambda: self._start(lambda cid: self.studio.ingestion.scan_comfyui(cid, device.value, self.actor)),
        ).mark("scan-comfyui")

    # --- running and following imports -------------------------------------------------------------

    async def _start(self, submit: Any) -> None:
        self.problems.clear()
        try:
            job: Job = await submit(self.character.value)
        except StudioError as exc:
            self._problem(problem_text(exc))
            return
        ui.notify(f"Import started: {job.title}", type="positive")
        await self.reload_imports()

    def _problem(self, text: str) -> None:
        with self.problems:
            ui.label(text).classes("text-sm text-negative break-words").mark("ingest-problem")

    async def reload_imports(self) -> None:
        async with self.lock:
            recent = await self.studio.jobs.list(JobFilter(project_id=self.project.id, limit=200))
            jobs = [job for job in recent if job.kind in INGEST_KINDS][:RECENT_IMPORTS]
            self.imports.clear()
            self.live.clear()
            with self.imports:
                if not jobs:
                    ui.label("No imports yet.").classes("text-sm opacity-70")
                for job in jobs:
                    self._import_card(job)

    def _import_card(self, job: Job) -> None:
        with ui.card().classes("w-full gap-1 p-3").mark(f"import-{job.id}"):
            with ui.row().classes("w-full items-center no-wrap gap-2"):
                ui.label(job.title).classes("font-medium grow break-words")
                state_chip(job)
            if job.state in (JobState.QUEUED, JobState.RUNNING):
                self.live[job.id] = live_progress(job, with_preview=False)  # type: ignore[index]
            if job.error and job.state in (JobState.FAILED, JobState.CANCELLED):
                ui.label(job.error).classes("text-sm text-negative break-words").mark(f"import-error-{job.id}")
            if job.result and job.state == JobState.SUCCEEDED:
                self._summary(job)
            with ui.row().classes("gap-1"):
                job_buttons(
                    job,
                    lambda job_id: cancel_job(self.studio, job_id, self.actor),
                    lambda job_id: retry_job(self.studio, job_id, self.actor),
                )

    def _summary(self, job: Job) -> None:
        result = job.result or {}
        parts = [
            f"{result.get('added', 0)} added",
            f"{result.get('duplicates', 0)} duplicates caught",
            f"{result.get('already_present', 0)} already in the dataset",
            f"{result.get('triage_rejected', 0)} rejected by triage",
        ]
        if result.get("queued_for_vision"):
            parts.append(f"{result['queued_for_vision']} sent to vision review")
        if result.get("own_generations_skipped"):
            parts.append(f"{result['own_generations_skipped']} of the studio's own generations skipped")
        ui.label(" · ".join(parts)).classes("text-sm").mark(f"import-summary-{job.id}")
        for refused in result.get("refused", [])[:20]:
            ui.label(f"{refused['name']}: {refused['error']}").classes("text-xs text-warning break-words")
        character_id = result.get("character_id")
        ui.link("Review them", f"/datasets?project={self.project.id}&character={character_id}&state=pending")

    def _on_connection_changed(self, _event: ConnectionChanged) -> None:
        if not self.comfy_host.is_deleted:
            self._comfy_panel()

    async def _on_job_changed(self, event: JobChanged) -> None:
        if event.kind in INGEST_KINDS and event.project_id == self.project.id:
            await self.reload_imports()

    def _on_progress(self, event: JobProgressed) -> None:
        live = self.live.get(event.job_id)
        if live is not None:
            live.show(event)
