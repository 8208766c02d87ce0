"""The scene page's sound and assembly card: the music under the scene, post-processing, Assemble with live
progress, and the assembled scene's player with its subtitles, poster and what the assembly left out."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from nicegui import ui

from components.form_errors import explain
from components.out_of_date import out_of_date_notice
from services.assembly import ASSEMBLY_JOB
from services.errors import Conflict, Invalid, NotFound
from services.jobs import JobChanged, JobProgressed
from services.music import MusicChanged, mood_of, track_label
from services.scenes import SceneChanged, SceneChanges
from studio.models import Scene
from studio.root import Studio

TEMP_BED = 0  # the music select's value for "no track: the mood's temp bed"
INTERPOLATE_CHOICES = {0: "Off", 48: "48 fps", 60: "60 fps"}
UPSCALE_CHOICES = {0: "Off", 2: "2x (up to 1920x1080)"}


def scene_media_src(scene: Scene, what: str) -> str:
    """The address of the assembled scene's video, poster or subtitles, naming this assembly (cache-safe)."""
    version = quote(scene.assembled_at.isoformat()) if scene.assembled_at else "0"
    return f"/api/scenes/{scene.id}/{what}?v={version}"


class SceneAssemblyPanel:
    def __init__(self, studio: Studio, scene: Scene, actor: str, notify: Callable[..., None]) -> None:
        self.studio, self.scene, self.actor, self.notify = studio, scene, actor, notify
        self.job_id = scene.assembly_job_id
        self.dirty = False
        with ui.card().classes("w-full gap-2").mark("assembly-card"):
            with ui.row().classes("w-full items-center gap-2"):
                ui.label("Sound & assembly").classes("font-semibold")
                ui.space()
                self.assemble_button = ui.button("Assemble", icon="movie_edit", on_click=self.assemble)
                self.assemble_button.props("unelevated").mark("assemble-scene")
                self.assemble_button.tooltip(
                    "Join the shots with their transitions, voice every line and mix the music under it, in one render"
                )
                self.cancel_button = ui.button("Cancel", icon="stop", on_click=self.cancel).props("flat color=negative")
                self.cancel_button.mark("cancel-assembly")
            with ui.row().classes("w-full items-center gap-3"):
                self.music = ui.select({}, label="Music", on_change=self.choose_music).props("outlined dense")
                self.music.classes("min-w-[320px]").mark("scene-music")
                ui.link("Music cache", "/music").classes("text-sm").mark("music-page-link")
                self.interpolate = (
                    ui.select(INTERPOLATE_CHOICES, value=scene.post_interpolate_fps or 0, label="Frame interpolation")
                    .props("outlined dense")
                    .classes("w-44")
                    .mark("scene-interpolate")
                )
                self.upscale = (
                    ui.select(UPSCALE_CHOICES, value=scene.post_upscale_factor or 0, label="Upscale")
                    .props("outlined dense")
                    .classes("w-52")
                    .mark("scene-upscale")
                )
                self.interpolate.on_value_change(self.save_post_processing)
                self.upscale.on_value_change(self.save_post_processing)
            self.progress = ui.linear_progress(value=0, show_value=False).props("rounded").mark("assembly-progress")
            self.progress_text = ui.label().classes("text-sm opacity-80").mark("assembly-progress-text")
            self.problem = ui.label().classes("text-negative text-sm whitespace-pre-wrap").mark("assembly-problem")
            self.result = ui.column().classes("w-full gap-2").mark("assembly-result")
        client = ui.context.client
        client.on_delete(studio.events.subscribe(JobProgressed, self.job_progressed))
        client.on_delete(studio.events.subscribe(JobChanged, self.job_changed))
        client.on_delete(studio.events.subscribe(SceneChanged, self.scene_changed))
        client.on_delete(studio.events.subscribe(MusicChanged, self.music_changed))
        ui.timer(0.5, self.refresh_if_dirty)

    async def load(self) -> None:
        await self.load_music()
        await self.show()

    # --- music ------------------------------------------------------------------------------------

    async def load_music(self) -> None:
        tracks = await self.studio.music.list(self.scene.project_id)
        if self.music.is_deleted:  # the panel was redrawn (a new plan, another scene) while the list loaded
            return
        options = {TEMP_BED: f"Temp bed for the mood ({mood_of(self.scene.mood)})"}
        options.update({t.id: track_label(t) for t in tracks if t.status == "ready"})  # type: ignore[misc]
        attached = self.scene.music_track_id
        if attached is not None and attached not in options:
            attached_track = next((t for t in tracks if t.id == attached), None)
            options[attached] = track_label(attached_track) if attached_track else "a deleted track"
        self.music.set_options(options, value=attached or TEMP_BED)

    async def choose_music(self) -> None:
        wanted = self.music.value or None
        if wanted == self.scene.music_track_id:
            return
        try:
            self.scene = await self.studio.music.attach(self.scene.id, wanted, self.actor)
        except (Invalid, Conflict, NotFound) as exc:
            self.notify(explain(exc), type="warning", multi_line=True)
            await self.load_music()
            return
        self.notify("Music changed: assemble again to hear it", type="positive")

    # --- post-processing --------------------------------------------------------------------------

    async def save_post_processing(self) -> None:
        changes = SceneChanges.model_validate(
            {"post_interpolate_fps": self.interpolate.value or None, "post_upscale_factor": self.upscale.value or None}
        )
        try:
            self.scene = await self.studio.scenes.update(self.scene.id, changes, self.actor)
        except (Invalid, Conflict, NotFound) as exc:
            self.notify(explain(exc), type="warning")
            return
        self.notify("Post-processing saved: it applies from the next assembly", type="info")

    # --- assembling -------------------------------------------------------------------------------

    async def assemble(self) -> None:
        self.problem.text = ""
        try:
            job = await self.studio.scene_assembly.start(self.scene.id, self.actor)
        except (Invalid, Conflict, NotFound) as exc:
            self.problem.text = explain(exc)
            return
        self.job_id = job.id
        self.progress.value = 0
        self.progress_text.text = "queued"
        await self.show()

    async def cancel(self) -> None:
        if self.job_id is None:
            return
        try:
            await self.studio.jobs.cancel(self.job_id, self.actor)
        except (Conflict, NotFound) as exc:
            self.notify(explain(exc), type="warning")
            return
        self.notify("Assembly cancelled: the previous video is kept", type="info")

    async def show(self) -> None:
        """Redraw from the scene row: the running job, or the last assembly's player and warnings."""
        self.scene = await self.studio.scenes.get(self.scene.id)
        running = await self.studio.scene_assembly.running_job(self.scene)
        reasons = await self.studio.scene_assembly.out_of_date(self.scene)
        if self.result.is_deleted:
            return
        self.job_id = running.id if running else None
        self.assemble_button.set_enabled(running is None)
        self.cancel_button.set_visibility(running is not None)
        self.progress.set_visibility(running is not None)
        self.progress_text.set_visibility(running is not None)
        if running is not None:
            self.progress.value = running.progress
            self.progress_text.text = running.progress_message or running.state
        self.result.clear()
        with self.result:
            self._assembled(reasons)

    def _assembled(self, reasons: list[str]) -> None:
        scene = self.scene
        if not scene.final_video_path:
            ui.label("Not assembled yet: press Assemble when the shots are rendered.").classes(
                "text-sm opacity-70"
            ).mark("not-assembled")
            return
        video = (
            ui.element("video")
            .props(f'controls preload="metadata" src="{scene_media_src(scene, "video")}"')
            .props(f'poster="{scene_media_src(scene, "poster")}"')
            .classes("w-full max-h-[480px] bg-black rounded")
            .mark("scene-player")
        )
        with video:
            ui.element("track").props(
                f'kind="subtitles" srclang="en" label="English" default src="{scene_media_src(scene, "subtitles.vtt")}"'
            )
        when = scene.assembled_at.strftime("%Y-%m-%d %H:%M") if scene.assembled_at else ""
        with ui.row().classes("w-full items-center gap-3 text-sm"):
            ui.label(f"{scene.actual_duration_seconds or 0:.2f} s · assembled {when}").mark("assembled-duration")
            ui.link("MP4", scene_media_src(scene, "video"), new_tab=True).mark("download-video")
            ui.link("Subtitles (SRT)", scene_media_src(scene, "subtitles.srt"), new_tab=True).mark("download-subtitles")
        if scene.assembly_warnings:
            with ui.column().classes("w-full gap-0").mark("assembly-warnings"):
                for warning in scene.assembly_warnings:
                    with ui.row().classes("items-start gap-1 no-wrap text-sm text-warning"):
                        ui.icon("warning", size="xs")
                        ui.label(warning)
        out_of_date_notice(reasons, "scene-out-of-date")

    # --- live updates -----------------------------------------------------------------------------

    def job_progressed(self, event: JobProgressed) -> None:
        if event.job_id == self.job_id and not self.progress.is_deleted:
            self.progress.value = event.progress
            self.progress_text.text = event.message

    def job_changed(self, event: JobChanged) -> None:
        if event.kind == ASSEMBLY_JOB and (event.job_id == self.job_id or event.project_id == self.scene.project_id):
            self.dirty = True
            if event.job_id == self.job_id and event.change == "failed" and event.error:
                self.problem.text = f"The assembly failed: {event.error}"

    def music_changed(self, event: MusicChanged) -> None:
        if event.project_id == self.scene.project_id:
            self.dirty = True  # a track finished, was added or deleted: the music choices change

    def scene_changed(self, event: SceneChanged) -> None:
        if event.scene_id == str(self.scene.id):
            self.dirty = True

    async def refresh_if_dirty(self) -> None:
        if self.dirty and not self.result.is_deleted:
            self.dirty = False
            await self.load_music()
            await self.show()
