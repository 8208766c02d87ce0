"""Music: a project's music cache. Each track plays in the page, shows where it came from and which scenes play
it, and can be attached to a scene, deleted (with Undo) or, when its generation failed, retried. Music comes
from uploads, from ACE-Step (a dialog with the fifteen moods; disabled with the reason when no device hosts
ACE-Step), or from the studio's own temp beds, which can be previewed per mood and kept as tracks. Generating
tracks follow their job live.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from nicegui import events, ui
from starlette.requests import Request

from components.confirm import confirm, throwaway_dialog
from components.form_errors import explain
from components.page_level import page_level
from components.project_context import no_project_yet, project_for_page, project_picker
from components.shell import Area, frame, principal_of, studio_page
from components.undo import offer_undo
from services.errors import Conflict, Invalid, NotFound, StudioError
from services.jobs import JobChanged, JobProgressed
from services.music import (
    MAX_SECONDS,
    MIN_SECONDS,
    MOOD_CAPTIONS,
    MUSIC_JOB,
    MusicChanged,
    MusicRequest,
    caption_for,
    mood_of,
)
from services.music.library import DEFAULT_SECONDS, SOURCE_LABELS
from studio.models import MusicTrack, Project, Scene
from studio.root import Studio

REDRAW_SECONDS = 0.3
STATUS_COLOR = {"ready": "positive", "generating": "primary", "failed": "negative"}
AUDIO_TYPES = "audio/*,.wav,.mp3,.flac,.ogg,.opus,.m4a,.aac,.aiff"


def register(studio: Studio, areas: Sequence[Area]) -> None:
    @studio_page("/music")
    async def music_page(request: Request) -> None:
        async with frame(studio, request, "Music", areas) as content:
            project = await project_for_page(studio, request)
            with content:
                with ui.row().classes("w-full items-center gap-3") as top:
                    await project_picker(studio, project, "/music")
                if project is None:
                    no_project_yet()
                    return
                view = MusicView(studio, project, principal_of(request).name)
                view.build(top)
            await view.reload()


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "length unknown"
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def _scene_name(scene: Scene) -> str:
    return f"{scene.scene_number}. {scene.title or 'untitled'}"


class MusicView:
    """The upload and generate controls, the temp beds, and the project's tracks as cards."""

    def __init__(self, studio: Studio, project: Project, actor: str) -> None:
        self.studio, self.project, self.actor = studio, project, actor
        self.project_id: int = project.id  # type: ignore[assignment]
        self.music = studio.music
        self.dirty = False
        self.progress: dict[int, JobProgressed] = {}  # job id -> latest progress, until shown
        self.live: dict[int, tuple[ui.linear_progress, ui.label]] = {}  # job id -> its card's elements

    # --- layout -------------------------------------------------------------------------------------

    def build(self, top: ui.row) -> None:
        unavailable = self.music.generation_unavailable()
        with top:
            ui.space()
            generate = ui.button("Generate with ACE-Step", icon="auto_awesome", on_click=self.open_generate)
            generate.props("unelevated").mark("generate-music")
            if unavailable:
                generate.disable()
        if unavailable:
            ui.label(f"Generating is off: {unavailable}").classes("text-sm opacity-80 break-words").mark(
                "generate-unavailable"
            )
        with ui.element("div").classes("w-full grid gap-4").style("grid-template-columns: minmax(0, 1fr) 360px"):
            with ui.column().classes("w-full gap-2 min-w-0"):
                with ui.row().classes("w-full items-center gap-2"):
                    ui.label("Music of this project").classes("text-lg font-semibold")
                    ui.space()
                    self.show_deleted = ui.switch("Show deleted", on_change=self.reload).props("dense")
                    self.show_deleted.mark("show-deleted")
                self.list_host = ui.column().classes("w-full gap-2").mark("track-list")
            with ui.column().classes("w-full gap-4"):
                self._upload_card()
                self._temp_bed_card()
        self.layout = page_level()
        client = ui.context.client
        client.on_delete(self.studio.events.subscribe(MusicChanged, self.music_changed))
        client.on_delete(self.studio.events.subscribe(JobChanged, self.job_changed))
        client.on_delete(self.studio.events.subscribe(JobProgressed, self.job_progressed))
        ui.timer(REDRAW_SECONDS, self.redraw)

    def notify(self, message: str, **options: Any) -> None:
        with self.layout:
            ui.notify(message, **options)

    def _upload_card(self) -> None:
        limit = self.studio.settings.max_music_upload_mb
        with ui.card().classes("w-full gap-2"):
            ui.label("Upload music").classes("font-semibold")
            ui.label(f"WAV, MP3, FLAC, OGG or M4A, up to {limit} MB and 20 minutes.").classes("text-sm opacity-70")

            async def uploaded(e: events.UploadEventArguments) -> None:
                self.upload_problem.text = ""
                name = e.file.name or ""
                try:
                    track = await self.music.upload(self.project_id, name, e.file.iterate(), self.actor)
                except (Invalid, Conflict, NotFound) as exc:
                    self.upload_problem.text = explain(exc)
                else:
                    self.notify(f"Added “{track.title}” ({duration_text(track.duration_seconds)})", type="positive")
                    await self.reload()
                finally:
                    e.sender.reset()  # type: ignore[attr-defined]

            ui.upload(
                auto_upload=True,
                max_file_size=limit * 2**20,
                label="Drop an audio file here or choose one",
                on_upload=uploaded,
                on_rejected=lambda: setattr(
                    self.upload_problem, "text", f"The file was refused before upload: at most {limit} MB"
                ),
            ).props(f'accept="{AUDIO_TYPES}" flat bordered').classes("w-full").mark("music-upload")
            self.upload_problem = ui.label().classes("text-negative text-sm whitespace-pre-wrap break-words")
            self.upload_problem.mark("upload-problem")

    def _temp_bed_card(self) -> None:
        with ui.card().classes("w-full gap-2").mark("temp-beds"):
            ui.label("Temp beds").classes("font-semibold")
            ui.label(
                "A soft chord pad the studio synthesizes for each mood. A scene without music plays the bed of "
                "its mood; keep one as a track to give it to a scene of another mood."
            ).classes("text-sm opacity-70")
            self.bed_mood = (
                ui.select({m: m for m in MOOD_CAPTIONS}, value="tense", label="Mood", on_change=self._show_bed)
                .props("outlined dense")
                .classes("w-full")
                .mark("bed-mood")
            )
            self.bed_player = ui.audio("/api/music/temp-beds/tense").classes("w-full").mark("bed-player")
            ui.button("Keep as a track", icon="playlist_add", on_click=self.keep_bed).props("outline").mark("keep-bed")

    def _show_bed(self) -> None:
        self.bed_player.set_source(f"/api/music/temp-beds/{self.bed_mood.value}")

    # --- the track list -------------------------------------------------------------------------------

    async def reload(self) -> None:
        tracks = await self.music.list(self.project_id, include_deleted=bool(self.show_deleted.value))
        scenes = [s.scene for s in await self.studio.scenes.list(self.project_id, include_deleted=True)]
        if self.list_host.is_deleted:
            return
        self.live = {}
        self.list_host.clear()
        with self.list_host:
            if not tracks:
                with ui.card().classes("w-full items-center gap-2 p-6").mark("no-music"):
                    ui.icon("library_music").classes("text-5xl opacity-60")
                    ui.label(f"{self.project.name} has no music yet.").classes("text-lg")
                    ui.label("Upload a file, generate a piece with ACE-Step, or keep a temp bed.").classes("opacity-70")
            for track in tracks:
                self._track_card(track, [s for s in scenes if s.music_track_id == track.id])

    def _track_card(self, track: MusicTrack, users: list[Scene]) -> None:
        deleted = track.deleted_at is not None
        with ui.card().classes("w-full gap-1" + (" opacity-60" if deleted else "")).mark(f"track-{track.id}"):
            with ui.row().classes("w-full items-center gap-2 no-wrap"):
                ui.label(track.title).classes("font-medium break-words min-w-0").mark(f"track-title-{track.id}")
                ui.space()
                status = "deleted" if deleted else track.status
                ui.badge(status, color=STATUS_COLOR.get(status, "grey-7")).mark(f"track-status-{track.id}")
            facts = [SOURCE_LABELS.get(track.source, track.source)]
            if track.mood:
                facts.append(track.mood)
            facts.append(duration_text(track.duration_seconds))
            ui.label(" · ".join(facts)).classes("text-sm opacity-80").mark(f"track-facts-{track.id}")
            if track.caption and track.source == "generated":
                ui.label(track.caption).classes("text-xs opacity-60 break-words")
            if track.status == "generating" and track.job_id is not None:
                self._progress(track)
            if track.status == "failed":
                ui.label(track.error or "failed").classes("text-sm text-negative break-words").mark(
                    f"track-error-{track.id}"
                )
            if track.status == "ready" and track.path:
                ui.audio(f"/api/music/{track.id}/audio").classes("w-full").mark(f"track-player-{track.id}")
            if users:
                with ui.row().classes("items-center gap-1").mark(f"track-scenes-{track.id}"):
                    ui.label("Plays under").classes("text-sm")
                    for scene in users:
                        ui.label(f"scene {_scene_name(scene)}").classes("text-sm font-medium")
                        if not deleted:
                            ui.button(icon="link_off", on_click=lambda s=scene: self.detach(track, s)).props(
                                f'flat round dense size=sm aria-label="Detach from scene {scene.scene_number}"'
                            ).mark(f"detach-{track.id}-{scene.id}").tooltip("Detach: the scene plays its temp bed")
            with ui.row().classes("gap-1"):
                if deleted:
                    ui.button("Restore", icon="restore_from_trash", on_click=lambda: self.restore(track)).props(
                        "flat dense"
                    ).mark(f"restore-track-{track.id}")
                    return
                if track.status == "ready":
                    ui.button("Attach to scene", icon="movie", on_click=lambda: self.open_attach(track)).props(
                        "flat dense color=primary"
                    ).mark(f"attach-track-{track.id}")
                if track.status == "failed" and track.source == "generated":
                    ui.button("Retry", icon="replay", on_click=lambda: self.retry(track)).props(
                        "flat dense color=primary"
                    ).mark(f"retry-track-{track.id}")
                if track.status == "generating" and track.job_id is not None:
                    job_id = track.job_id
                    ui.button("Cancel", icon="cancel", on_click=lambda: self.cancel(job_id)).props(
                        "flat dense color=negative"
                    ).mark(f"cancel-track-{track.id}")
                ui.button("Delete", icon="delete", on_click=lambda: self.delete(track, users)).props("flat dense").mark(
                    f"delete-track-{track.id}"
                )

    def _progress(self, track: MusicTrack) -> None:
        job_id: int = track.job_id  # type: ignore[assignment]
        bar = ui.linear_progress(value=0, show_value=False).props("rounded size=8px").mark(f"track-progress-{track.id}")
        message = ui.label("waiting for the ACE-Step device").classes("text-xs opacity-70")
        message.mark(f"track-message-{track.id}")
        self.live[job_id] = (bar, message)
        if job_id in self.progress:
            self._show_progress(job_id, self.progress[job_id])

    def _show_progress(self, job_id: int, event: JobProgressed) -> None:
        bar, message = self.live[job_id]
        bar.value = round(event.progress, 3)
        message.text = event.message

    # --- live updates -------------------------------------------------------------------------------

    def music_changed(self, event: MusicChanged) -> None:
        if event.project_id == self.project_id:
            self.dirty = True

    def job_changed(self, event: JobChanged) -> None:
        if event.kind == MUSIC_JOB and event.project_id == self.project_id:
            self.dirty = True

    def job_progressed(self, event: JobProgressed) -> None:
        self.progress[event.job_id] = event

    async def redraw(self) -> None:
        if self.list_host.is_deleted:
            return
        if self.dirty:
            self.dirty = False
            await self.reload()
        for job_id, event in list(self.progress.items()):
            if job_id in self.live:
                self._show_progress(job_id, event)

    # --- actions --------------------------------------------------------------------------------------

    async def open_generate(self) -> None:
        scenes = [s.scene for s in await self.studio.scenes.list(self.project_id)]
        with self.layout:
            GenerateDialog(self, scenes).open()

    async def open_attach(self, track: MusicTrack) -> None:
        scenes = [s.scene for s in await self.studio.scenes.list(self.project_id)]
        with self.layout:
            AttachDialog(self, track, scenes).open()

    async def keep_bed(self) -> None:
        mood = str(self.bed_mood.value)
        try:
            track = await self.music.keep_temp_bed(self.project_id, mood, self.actor)
        except (Invalid, Conflict, NotFound) as exc:
            self.notify(explain(exc), type="warning")
            return
        self.notify(f"Kept “{track.title}” in the project's music", type="positive")
        await self.reload()

    async def retry(self, track: MusicTrack) -> None:
        try:
            await self.music.retry(track.id, self.actor)  # type: ignore[arg-type]
        except (Invalid, Conflict, NotFound) as exc:
            self.notify(explain(exc), type="warning", multi_line=True)
            return
        self.notify(f"Generating “{track.title}” again", type="info")
        await self.reload()

    async def cancel(self, job_id: int) -> None:
        try:
            await self.studio.jobs.cancel(job_id, self.actor)
        except (Conflict, NotFound) as exc:
            self.notify(explain(exc), type="warning")
            return
        self.notify("Cancelled: ACE-Step may finish the piece, but the studio will not keep it", type="info")
        await self.reload()

    async def detach(self, track: MusicTrack, scene: Scene) -> None:
        try:
            await self.music.attach(scene.id, None, self.actor)
        except (Conflict, NotFound) as exc:
            self.notify(explain(exc), type="warning")
            return
        await self.reload()

        async def undo() -> None:
            try:
                await self.music.attach(scene.id, track.id, self.actor)
            except (Invalid, Conflict, NotFound) as exc:
                self.notify(explain(exc), type="warning")
            await self.reload()

        with self.layout:
            offer_undo(f"Scene {_scene_name(scene)} plays its temp bed again", undo)

    async def delete(self, track: MusicTrack, users: list[Scene]) -> None:
        if users:
            names = ", ".join(_scene_name(s) for s in users)
            noun = "scene" if len(users) == 1 else "scenes"
            if not await confirm(
                f"Delete “{track.title}”?",
                f"It plays under {noun} {names}; they go back to their mood's temp bed. Undo puts it back.",
                "Delete and detach",
            ):
                return
        try:
            deleted = await self.music.delete(track.id, self.actor, detach=True)  # type: ignore[arg-type]
        except (Conflict, NotFound) as exc:
            self.notify(explain(exc), type="warning", multi_line=True)
            return
        await self.reload()

        async def undo() -> None:
            await self.restore(deleted.track, deleted.detached_scenes)

        with self.layout:
            offer_undo(f"“{track.title}” deleted", undo)

    async def restore(self, track: MusicTrack, reattach: list[uuid.UUID] | None = None) -> None:
        try:
            await self.music.restore(track.id, self.actor, reattach or [])  # type: ignore[arg-type]
        except NotFound as exc:
            self.notify(explain(exc), type="warning")
            return
        self.notify(f"“{track.title}” restored", type="info")
        await self.reload()


class GenerateDialog:
    """Mood (with what it asks for), an editable caption, length, seed, and a scene to attach it to."""

    def __init__(self, view: MusicView, scenes: list[Scene]) -> None:
        self.view = view
        self.scenes = {s.id: s for s in scenes}
        with throwaway_dialog() as self.dialog, ui.card().classes("w-[640px] max-w-full gap-3").mark("generate-dialog"):
            ui.label("Generate music with ACE-Step").classes("text-lg font-semibold")
            self.scene = (
                ui.select(
                    {s.id: _scene_name(s) for s in scenes},
                    value=None,
                    label="For scene (attached once it is made)",
                    on_change=self._scene_chosen,
                )
                .props("outlined dense clearable")
                .classes("w-full")
                .mark("generate-scene")
            )
            self.mood = (
                ui.select(
                    {m: f"{m} — {caption}" for m, caption in MOOD_CAPTIONS.items()},
                    value="ambient",
                    label="Mood",
                    on_change=self._mood_chosen,
                )
                .props("outlined dense")
                .classes("w-full")
                .mark("generate-mood")
            )
            self.caption = (
                ui.textarea("Caption sent to ACE-Step", value=caption_for("ambient"))
                .props("outlined dense autogrow")
                .classes("w-full")
                .mark("generate-caption")
            )
            with ui.row().classes("items-center gap-3"):
                self.seconds = (
                    ui.number("Seconds", value=DEFAULT_SECONDS, min=MIN_SECONDS, max=MAX_SECONDS, precision=1)
                    .props("outlined dense")
                    .classes("w-32")
                    .mark("generate-seconds")
                )
                self.seed = (
                    ui.number("Seed (empty: random)", value=None, min=0, precision=0)
                    .props("outlined dense clearable")
                    .classes("w-48")
                    .mark("generate-seed")
                )
            self.problem = ui.label().classes("text-negative text-sm whitespace-pre-wrap").mark("generate-problem")
            with ui.row().classes("w-full justify-end gap-2"):
                ui.button("Close", on_click=self.dialog.close).props("flat")
                ui.button("Generate", icon="auto_awesome", on_click=self.generate).props("unelevated").mark(
                    "generate-submit"
                )

    def open(self) -> None:
        self.dialog.open()

    def _scene_chosen(self) -> None:
        scene = self.scenes.get(self.scene.value)
        if scene is not None:
            self.mood.value = mood_of(scene.mood)  # also rewrites the caption
            self.seconds.value = min(MAX_SECONDS, max(MIN_SECONDS, scene.target_duration_seconds))

    def _mood_chosen(self) -> None:
        self.caption.value = caption_for(str(self.mood.value))

    async def generate(self) -> None:
        self.problem.text = ""
        seconds, seed = self.seconds.value, self.seed.value
        request = MusicRequest(
            mood=str(self.mood.value),
            caption=str(self.caption.value or ""),
            duration_seconds=float(seconds) if seconds is not None else None,
            seed=int(seed) if seed is not None else None,
            scene_id=self.scene.value,
        )
        try:
            track, job = await self.view.music.generate(self.view.project_id, request, self.view.actor)
        except StudioError as exc:
            self.problem.text = explain(exc)
            return
        self.dialog.close()
        self.view.notify(f"Queued job {job.id}: “{track.title}” on ACE-Step", type="positive")
        await self.view.reload()


class AttachDialog:
    """Pick the scene the track should play under (replacing the scene's music, which stays in the cache)."""

    def __init__(self, view: MusicView, track: MusicTrack, scenes: list[Scene]) -> None:
        self.view, self.track = view, track
        with throwaway_dialog() as self.dialog, ui.card().classes("w-[480px] max-w-full gap-3").mark("attach-dialog"):
            ui.label(f"Attach “{track.title}” to a scene").classes("text-lg font-semibold")
            if not scenes:
                ui.label("This project has no scenes yet: add them on the Scenes page.").classes("opacity-80")
            options = {
                s.id: _scene_name(s) + (" (plays this already)" if s.music_track_id == track.id else "") for s in scenes
            }
            self.scene = ui.select(options, value=None, label="Scene").props("outlined dense").classes("w-full")
            self.scene.mark("attach-scene")
            self.problem = ui.label().classes("text-negative text-sm whitespace-pre-wrap").mark("attach-problem")
            with ui.row().classes("w-full justify-end gap-2"):
                ui.button("Close", on_click=self.dialog.close).props("flat")
                ui.button("Attach", icon="link", on_click=self.attach).props("unelevated").mark("attach-submit")

    def open(self) -> None:
        self.dialog.open()

    async def attach(self) -> None:
        if self.scene.value is None:
            self.problem.text = "Choose a scene"
            return
        try:
            scene = await self.view.music.attach(self.scene.value, self.track.id, self.view.actor)
        except (Invalid, Conflict, NotFound) as exc:
            self.problem.text = explain(exc)
            return
        self.dialog.close()
        self.view.notify(f"“{self.track.title}” now plays under scene {_scene_name(scene)}", type="positive")
        await self.view.reload()
