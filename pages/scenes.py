"""Scenes: a project's scenes, the selected scene's fields and its timeline of shots (reordered by drag and
drop or ← →, each edited in a side panel), generation per scene, and story to scenes with a preview that
replaces nothing until accepted. Generation progress updates the shot cards in place.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from nicegui import events, ui
from pydantic import ValidationError
from starlette.requests import Request

from components.confirm import confirm, throwaway_dialog
from components.form_errors import explain
from components.generate_again import generate_again_ok
from components.page_level import page_level
from components.project_context import no_project_yet, project_for_page, project_picker
from components.scene_assembly import SceneAssemblyPanel
from components.shell import Area, frame, principal_of, studio_page
from components.shot_editor import ShotEditor
from components.timeline import ORDER_EVENT, TIMELINE_HEAD, Timeline
from components.undo import offer_undo
from components.unsaved import UnsavedMarker, page_edits
from services.errors import Conflict, Invalid, NotFound
from services.jobs import JobChanged
from services.scenes import (
    SCENE_JOB,
    SceneChanged,
    SceneChanges,
    SceneDraft,
    SceneSummary,
    ShotDraft,
    ShotProgressed,
    StoryPlan,
    StoryPlanError,
)
from services.scenes.presets import TIMES_OF_DAY
from services.scenes.story import MAX_SCENES
from studio.models import Project, Scene
from studio.root import Studio

# Events only mark what changed; the page reads the scenes and shots again at most this often.
REDRAW_SECONDS = 0.3
SCENE_STATUS_COLOR = {
    "draft": "grey-7",
    "generating": "primary",
    "completed": "positive",
    "partial": "warning",
    "failed": "negative",
}


def register(studio: Studio, areas: Sequence[Area]) -> None:
    @studio_page("/scenes")
    async def scenes_page(request: Request) -> None:
        async with frame(studio, request, "Scenes", areas, head=TIMELINE_HEAD) as content:
            project = await project_for_page(studio, request)
            with content:
                with ui.row().classes("w-full items-center gap-3") as top:
                    await project_picker(studio, project, "/scenes")
                if project is None:
                    no_project_yet()
                    return
                view = ScenesView(studio, project, principal_of(request).name)
                view.build(top)
            await view.load(_scene_id(request.query_params.get("scene", "")))


def _scene_id(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _scene_name(scene: Scene) -> str:
    return f"{scene.scene_number}. {scene.title or 'untitled'}"


class ScenesView:
    """The scene list on the left; the selected scene's fields, generation and timeline on the right."""

    def __init__(self, studio: Studio, project: Project, actor: str) -> None:
        self.studio, self.project, self.actor = studio, project, actor
        self.project_id: int = project.id  # type: ignore[assignment]
        self.summaries: list[SceneSummary] = []
        self._list_reads = 0  # reads of the scene list started: only the latest one draws
        self.scene_id: uuid.UUID | None = None
        self.scene: Scene | None = None
        self.timeline: Timeline | None = None
        self.messages: dict[uuid.UUID, str] = {}  # each shot's latest word from its generation
        self.list_dirty = False
        self.timeline_dirty = False

    # --- layout -------------------------------------------------------------------------------------

    def build(self, top: ui.row) -> None:
        with top:
            ui.space()
            ui.button("Plan from story", icon="auto_awesome", on_click=self.plan_from_story).props("outline").mark(
                "plan-from-story"
            )
        with ui.element("div").classes("w-full grid gap-4").style("grid-template-columns: 280px minmax(0, 1fr)"):
            with ui.card().classes("w-full gap-2 p-3"):
                with ui.row().classes("w-full items-center gap-1"):
                    ui.label("Scenes").classes("text-lg font-semibold")
                    ui.space()
                    ui.button(icon="add", on_click=self.add_scene).props(
                        'flat round dense aria-label="Add scene"'
                    ).mark("add-scene").tooltip("Add a scene at the end")
                self.show_deleted = ui.switch("Show deleted", on_change=self.reload_list).props("dense")
                self.show_deleted.mark("show-deleted")
                self.list_host = ui.column().classes("w-full gap-1").mark("scene-list")
            self.scene_host = ui.column().classes("w-full gap-3 min-w-0")
        # Notices and undo bars go here: the list item or dialog that asked for them may be redrawn first.
        self.layout = page_level()
        self.editor = ShotEditor(self.studio, self.project_id, self.actor, self.shots_changed)
        ui.on(ORDER_EVENT, self.dropped)
        client = ui.context.client
        client.on_delete(self.studio.events.subscribe(SceneChanged, self.scene_changed))
        client.on_delete(self.studio.events.subscribe(ShotProgressed, self.shot_progressed))
        client.on_delete(self.studio.events.subscribe(JobChanged, self.job_changed))
        ui.timer(REDRAW_SECONDS, self.redraw)

    async def load(self, wanted: uuid.UUID | None) -> None:
        """Show `wanted`, else the first scene: at the start, or once the scene shown is deleted."""
        await self.reload_list()
        known = {s.scene.id for s in self.summaries if s.scene.deleted_at is None}
        if wanted not in known:
            wanted = next(iter(s.scene.id for s in self.summaries if s.scene.deleted_at is None), None)
        await self.select(wanted, ask=False)

    def notify(self, message: str, **options: Any) -> None:
        with self.layout:
            ui.notify(message, **options)

    # --- the scene list -----------------------------------------------------------------------------

    async def reload_list(self) -> None:
        # Reads can overlap (a scene event's redraw, then the Show deleted switch): only the latest one draws, or
        # an older read finishing last would show the list without what was just asked for.
        self._list_reads = ticket = self._list_reads + 1
        summaries = await self.studio.scenes.list(self.project_id, include_deleted=bool(self.show_deleted.value))
        if self.list_host.is_deleted or ticket != self._list_reads:
            return
        self.summaries = summaries
        self.list_host.clear()
        with self.list_host:
            if not self.summaries:
                ui.label("No scenes yet.").classes("text-sm opacity-70").mark("no-scene-yet")
            for summary in self.summaries:
                self._scene_item(summary)
        current = next((s.scene for s in self.summaries if s.scene.id == self.scene_id), None)
        if current is not None:
            self.scene = current
            self._show_generation(current)

    def _scene_item(self, summary: SceneSummary) -> None:
        scene = summary.scene
        deleted = scene.deleted_at is not None
        active = scene.id == self.scene_id
        with ui.row().classes("w-full items-center gap-1 no-wrap" + (" scene-item--deleted" if deleted else "")):
            with (
                ui.item(on_click=None if deleted else lambda: self.select(scene.id))
                .props(f"clickable={'false' if deleted else 'true'} active={'true' if active else 'false'} dense")
                .props('active-class="studio-nav-active"')
                .classes("flex-grow rounded-lg min-w-0")
                .mark(f"scene-{scene.id}")
            ):
                with ui.item_section():
                    ui.item_label(_scene_name(scene)).classes("truncate").mark(f"scene-title-{scene.id}")
                    shots = "shot" if summary.shots == 1 else "shots"
                    ui.item_label(f"{summary.shots} {shots} · {summary.seconds:g} s").props("caption").mark(
                        f"scene-meta-{scene.id}"
                    )
                with ui.item_section().props("side"):
                    status = "deleted" if deleted else scene.generation_status
                    ui.badge(status, color=SCENE_STATUS_COLOR.get(status, "grey-7")).mark(f"scene-status-{scene.id}")
            if deleted:
                ui.button(icon="restore_from_trash", on_click=lambda: self.restore_scene(scene)).props(
                    'flat round dense aria-label="Restore scene"'
                ).mark(f"restore-scene-{scene.id}").tooltip("Restore this scene")
            else:
                ui.button(icon="delete", on_click=lambda: self.delete_scene(scene)).props(
                    'flat round dense aria-label="Delete scene"'
                ).mark(f"delete-scene-{scene.id}").tooltip("Delete this scene (Undo brings it back)")

    async def add_scene(self) -> None:
        with self.layout:
            if not await page_edits().discard_ok():  # the new scene replaces the form
                return
        try:
            scene = await self.studio.scenes.create(self.project_id, SceneDraft(), self.actor)
        except NotFound as exc:
            self.notify(explain(exc), type="negative")
            return
        await self.select(scene.id)
        self.notify(f"Scene {scene.scene_number} added: give it a title and shots", type="positive")

    async def delete_scene(self, scene: Scene) -> None:
        try:
            await self.studio.scenes.delete(scene.id, self.actor)
        except (Conflict, NotFound) as exc:
            self.notify(explain(exc), type="warning", multi_line=True)
            return
        if self.scene_id == scene.id:
            await self.load(None)
        else:
            await self.reload_list()
        with self.layout:
            offer_undo(f"Scene {_scene_name(scene)} deleted", lambda: self.restore_scene(scene))

    async def restore_scene(self, scene: Scene) -> None:
        try:
            await self.studio.scenes.update(scene.id, SceneChanges(deleted=False), self.actor)
        except (Conflict, NotFound) as exc:
            self.notify(explain(exc), type="warning")
            return
        self.notify(f"Scene {_scene_name(scene)} restored", type="info")
        await self.select(scene.id)

    # --- the selected scene -------------------------------------------------------------------------

    async def select(self, scene_id: uuid.UUID | None, *, ask: bool = True) -> None:
        """Show `scene_id`. It replaces the scene form and closes the shot panel: their edits go, after asking
        unless `ask` is False (the scene they edit is gone)."""
        # The list item, button or dialog that asked may be gone once the list redraws: work at page level.
        with self.layout:
            if ask and not await page_edits().discard_ok():
                return
            page_edits().discard()
            await self._select(scene_id)

    async def _select(self, scene_id: uuid.UUID | None) -> None:
        self.scene_id = scene_id
        self.editor.close()
        self.messages = {}
        await self.reload_list()
        self._remember_address()
        self.scene_host.clear()
        self.timeline = None
        if scene_id is None:
            with self.scene_host:
                self._no_scenes()
            return
        try:
            scene = await self.studio.scenes.get(scene_id)
        except NotFound as exc:
            with self.scene_host:
                ui.label(explain(exc)).classes("text-negative")
            return
        self.scene = scene
        with self.scene_host:
            self._scene_form(scene)
            self._generation_row(scene)
            with ui.card().classes("w-full gap-2"):
                ui.label("Timeline").classes("text-lg font-semibold")
                self.timeline = Timeline(self.open_shot, self.move_shot, self.add_shot)
            assembly = SceneAssemblyPanel(self.studio, scene, self.actor, self.notify)
        self._show_generation(scene)
        await self.refresh_timeline()
        await assembly.load()

    def _remember_address(self) -> None:
        params: dict[str, str | int] = {"project": self.project_id}
        if self.scene_id is not None:
            params["scene"] = str(self.scene_id)
        ui.navigate.history.replace(f"/scenes?{urlencode(params)}")

    def _no_scenes(self) -> None:
        with ui.card().classes("w-full items-center gap-2 p-8").mark("no-scenes"):
            ui.icon("movie").classes("text-5xl opacity-60")
            ui.label(f"{self.project.name} has no scenes yet.").classes("text-lg")
            ui.label("Add one and fill it with shots, or let the model plan them from the story.").classes("opacity-70")
            with ui.row().classes("gap-2"):
                ui.button("Add a scene", icon="add", on_click=self.add_scene).mark("empty-add-scene")
                ui.button("Plan from story", icon="auto_awesome", on_click=self.plan_from_story).props("outline")

    def _scene_form(self, scene: Scene) -> None:
        with ui.card().classes("w-full gap-2").mark("scene-form"):
            with ui.row().classes("w-full items-center gap-2"):
                ui.label(f"Scene {scene.scene_number}").classes("text-lg font-semibold").mark("scene-heading")
                unsaved = UnsavedMarker(f"scene {scene.scene_number}", "scene-unsaved")
            with ui.row().classes("w-full gap-2 no-wrap"):
                title = ui.input("Title", value=scene.title).props("outlined dense").classes("flex-grow")
                title.mark("scene-title")
                location = ui.input("Location", value=scene.location).props("outlined dense").classes("flex-grow")
                location.mark("scene-location")
            with ui.row().classes("w-full gap-2 no-wrap"):
                times = {t: t for t in TIMES_OF_DAY}
                if scene.time_of_day:
                    times.setdefault(scene.time_of_day, scene.time_of_day)
                time_of_day = (
                    ui.select(times, value=scene.time_of_day or None, label="Time of day")
                    .props("outlined dense clearable")
                    .classes("w-48")
                    .mark("scene-time")
                )
                mood = ui.input("Mood", value=scene.mood).props("outlined dense").classes("flex-grow")
                mood.mark("scene-mood")
            description = (
                ui.textarea("Description", value=scene.description)
                .props("outlined dense autogrow")
                .classes("w-full")
                .mark("scene-description")
            )
            problem = ui.label().classes("text-negative text-sm whitespace-pre-wrap").mark("scene-problem")
            unsaved.watch(title, location, time_of_day, mood, description)

            async def save() -> None:
                problem.text = ""
                try:
                    changes = SceneChanges(
                        title=title.value or "",
                        location=location.value or "",
                        time_of_day=time_of_day.value or "",
                        mood=mood.value or "",
                        description=description.value or "",
                    )
                    saved = await self.studio.scenes.update(scene.id, changes, self.actor)
                except (ValidationError, Invalid, Conflict, NotFound) as exc:
                    problem.text = explain(exc)
                    return
                unsaved.saved()
                self.notify(f"Scene {_scene_name(saved)} saved", type="positive")
                await self.reload_list()

            with ui.row().classes("w-full justify-end"):
                ui.button("Save scene", icon="save", on_click=save).props("unelevated").mark("save-scene")

    def _generation_row(self, scene: Scene) -> None:
        with ui.card().classes("w-full gap-1"):
            with ui.row().classes("w-full items-center gap-2"):
                ui.label("Generation").classes("font-semibold")
                self.generation_status = ui.badge().mark("scene-generation-status")
                self.generation_counts = ui.label().classes("text-sm opacity-80").mark("scene-generation-counts")
                ui.space()
                self.generate_button = ui.button("Generate", icon="movie_creation", on_click=self.generate)
                self.generate_button.props("unelevated").mark("generate-scene")
                self.generate_button.tooltip("Render every shot in order, each continuing from the one before")
                self.cancel_button = ui.button("Cancel", icon="stop", on_click=self.cancel_generation)
                self.cancel_button.props("flat color=negative").mark("cancel-generation")
                monitor = ui.button("Monitor", icon="monitor_heart").props("outline").mark("monitor-link")
                monitor.props["href"] = f"/scenes/{scene.id}/monitor"
            self.generate_problem = ui.label().classes("text-negative text-sm whitespace-pre-wrap")
            self.generate_problem.mark("generate-problem")

    def _show_generation(self, scene: Scene) -> None:
        if self.timeline is None or self.generation_status.is_deleted:
            return
        status = scene.generation_status
        self.generation_status.text = status
        self.generation_status.props(f"color={SCENE_STATUS_COLOR.get(status, 'grey-7')}")
        counts = f"{scene.completed_shots} of {scene.total_shots} shots rendered" if scene.total_shots else ""
        self.generation_counts.text = counts
        self.generate_button.set_enabled(status != "generating")
        self.cancel_button.set_visibility(status == "generating")

    async def generate(self) -> None:
        assert self.scene_id is not None
        self.generate_problem.text = ""
        with self.layout:
            if not await generate_again_ok(self.studio, self.scene_id):
                return
        try:
            job = await self.studio.scene_generation.start(self.scene_id, self.actor)
        except (Invalid, Conflict, NotFound) as exc:
            self.generate_problem.text = explain(exc)
            return
        self.notify(f"Queued job {job.id}: {job.title} — follow it on the monitor", type="positive")
        await self.reload_list()

    async def cancel_generation(self) -> None:
        assert self.scene_id is not None
        try:
            await self.studio.scene_generation.cancel(self.scene_id, self.actor)
        except (Conflict, NotFound) as exc:
            self.notify(explain(exc), type="warning")
            return
        self.notify("Cancelled: finished shots keep their videos", type="info")
        await self.reload_list()

    # --- the timeline -------------------------------------------------------------------------------

    async def refresh_timeline(self) -> None:
        """Read the shots again: cards change in place when the order held, else the timeline is redrawn."""
        timeline, scene_id = self.timeline, self.scene_id
        if timeline is None or scene_id is None:
            return
        shots = await self.studio.scenes.shots(scene_id)
        if timeline is not self.timeline or timeline.host.is_deleted:  # another scene was chosen meanwhile
            return
        if timeline.scene_id == scene_id and timeline.same_order(shots):
            for shot in shots:
                timeline.show(shot, self.messages.get(shot.id))
                self.editor.progress(shot)
        else:
            timeline.render(scene_id, shots, self.messages)

    async def shots_changed(self) -> None:
        await self.refresh_timeline()
        await self.reload_list()

    async def open_shot(self, shot_id: uuid.UUID) -> None:
        await self.editor.show(shot_id)

    async def add_shot(self) -> None:
        assert self.scene_id is not None
        try:
            shot = await self.studio.scenes.add_shot(self.scene_id, ShotDraft(), self.actor)
        except (Invalid, Conflict, NotFound) as exc:
            self.notify(explain(exc), type="warning", multi_line=True)
            return
        await self.shots_changed()
        await self.editor.show(shot.id)

    async def move_shot(self, shot_id: uuid.UUID, step: int) -> None:
        assert self.timeline is not None
        order = list(self.timeline.order)
        if shot_id not in order:
            return
        at = order.index(shot_id)
        to = at + step
        if not 0 <= to < len(order):
            return
        order[at], order[to] = order[to], order[at]
        await self._reorder(order)

    async def dropped(self, event: events.GenericEventArguments) -> None:
        """timeline.js reports a drop as the scene's shot ids in their new order."""
        args: Any = event.args
        try:
            scene_id = uuid.UUID(str(args["scene_id"]))
            order = [uuid.UUID(str(shot_id)) for shot_id in args["shot_ids"]]
        except (KeyError, TypeError, ValueError):
            self.notify(f"The timeline sent an order the page cannot read: {args!r}", type="negative")
            return
        if scene_id == self.scene_id:
            await self._reorder(order)

    async def _reorder(self, order: list[uuid.UUID]) -> None:
        assert self.scene_id is not None
        try:
            await self.studio.scenes.reorder(self.scene_id, order, self.actor)
        except (Invalid, Conflict, NotFound) as exc:
            self.notify(explain(exc), type="warning", multi_line=True)
        await self.refresh_timeline()

    # --- live updates -------------------------------------------------------------------------------

    def scene_changed(self, event: SceneChanged) -> None:
        if event.project_id == self.project_id:
            self.list_dirty = True
            if event.scene_id == str(self.scene_id):
                self.timeline_dirty = True

    def shot_progressed(self, event: ShotProgressed) -> None:
        if event.scene_id == str(self.scene_id):
            if event.message:
                self.messages[uuid.UUID(event.shot_id)] = event.message
            self.timeline_dirty = True
            self.list_dirty = True

    def job_changed(self, event: JobChanged) -> None:
        if event.kind == SCENE_JOB and event.project_id == self.project_id:
            self.list_dirty = True  # a scene started, finished or was cancelled: its status changed

    async def redraw(self) -> None:
        if self.scene_host.is_deleted:
            return
        if self.list_dirty:
            self.list_dirty = False
            await self.reload_list()
            live = {s.scene.id for s in self.summaries if s.scene.deleted_at is None}
            if self.scene_id is not None and self.scene_id not in live:  # deleted elsewhere (or replaced)
                await self.load(None)
                return
        if self.timeline_dirty:
            self.timeline_dirty = False
            await self.refresh_timeline()

    # --- story to scenes ----------------------------------------------------------------------------

    async def plan_from_story(self) -> None:
        with self.layout:
            PlanDialog(self).open()


class PlanDialog:
    """Ask the model for scenes from the story, show them, and add them or let them replace the scenes."""

    def __init__(self, view: ScenesView) -> None:
        self.view = view
        self.plan: StoryPlan | None = None
        self.asking: asyncio.Task[StoryPlan] | None = None
        with throwaway_dialog() as self.dialog, ui.card().classes("w-[900px] max-w-full gap-3").mark("plan-dialog"):
            ui.label("Plan scenes from the story").classes("text-lg font-semibold")
            ui.label(
                "The model reads the storyline, the world and the cast and proposes scenes with their shots. "
                "Nothing is saved until you add them."
            ).classes("text-sm opacity-80")
            with ui.row().classes("items-center gap-2"):
                self.low = ui.number("At least", value=3, min=1, max=MAX_SCENES, precision=0).props("outlined dense")
                self.low.classes("w-28").mark("plan-min")
                self.high = ui.number("At most", value=8, min=1, max=MAX_SCENES, precision=0).props("outlined dense")
                self.high.classes("w-28").mark("plan-max")
                ui.label("scenes").classes("opacity-80")
                self.ask = ui.button("Ask the model", icon="auto_awesome", on_click=self.ask_model).props("unelevated")
                self.ask.mark("ask-model")
            with ui.row().classes("items-center gap-2") as self.waiting:
                ui.spinner(size="md").mark("plan-spinner")
                model = self.view.studio.settings.story_model
                ui.label(f"Asking {model} for a plan — this can take a minute.").classes("text-sm")
                ui.button("Cancel", icon="cancel", on_click=self.cancel).props("flat dense no-caps").mark("plan-cancel")
            self.waiting.set_visibility(False)
            self.problem = ui.label().classes("text-negative text-sm whitespace-pre-wrap").mark("plan-problem")
            self.preview = ui.column().classes("w-full gap-2").mark("plan-preview")
            with ui.row().classes("w-full items-center justify-end gap-2"):
                ui.button("Close", on_click=self.dialog.close).props("flat").mark("plan-close")
                self.add = ui.button("Add after the existing scenes", icon="playlist_add", on_click=self.add_scenes)
                self.add.props("unelevated").mark("plan-add")
                self.replace = ui.button("Replace the existing scenes", icon="swap_horiz", on_click=self.replace_scenes)
                self.replace.props("outline color=negative").mark("plan-replace")
        self._actions(False)
        self.add.set_visibility(False)
        self.replace.set_visibility(False)
        self.dialog.on_value_change(lambda e: None if e.value else self.cancel())  # nobody waits for it any more

    def open(self) -> None:
        self.dialog.open()

    def cancel(self) -> None:
        """Stop asking: the request is dropped (the server stops generating when it notices)."""
        if self.asking is not None:
            self.asking.cancel()

    def _actions(self, enabled: bool) -> None:
        """Add and Replace appear with a plan to save, and wait while one is being asked for or saved."""
        for button in (self.add, self.replace):
            button.set_enabled(enabled)
            if enabled:
                button.set_visibility(True)

    async def ask_model(self) -> None:
        self.problem.text = ""
        low, high = self.low.value, self.high.value
        if not isinstance(low, int | float) or not isinstance(high, int | float) or not 1 <= low <= high <= MAX_SCENES:
            self.problem.text = f"Scenes: choose at least 1 and at most {MAX_SCENES}, the first no more than the second"
            return
        self.ask.set_enabled(False)
        self._actions(False)
        self.waiting.set_visibility(True)
        self.asking = asyncio.create_task(
            self.view.studio.story_planner.preview(self.view.project_id, (int(low), int(high)))
        )
        try:
            await asyncio.wait({self.asking})  # returns when the plan comes, fails, or Cancel cancels it
            if self.asking.cancelled():
                if not self.dialog.is_deleted:
                    self.problem.text = "Cancelled: the model was stopped before it finished; nothing was planned."
                return
            plan = self.asking.result()
        except (Invalid, StoryPlanError, NotFound) as exc:
            if not self.dialog.is_deleted:
                # The planner's refusals are whole sentences that name their fix (how to add an LLM device).
                message = exc.message if isinstance(exc, Invalid) else str(exc)
                self.problem.text = message[:1].upper() + message[1:]
            return
        finally:
            self.cancel()  # when this handler itself is cancelled (the page went away), the request goes too
            if not self.dialog.is_deleted:
                self.waiting.set_visibility(False)
                self.ask.set_enabled(True)
        if self.dialog.is_deleted:
            return
        self.plan = plan
        self._show(plan)
        self._actions(True)

    def _show(self, plan: StoryPlan) -> None:
        self.preview.clear()
        shots = sum(len(scene.shots) for scene in plan.scenes)
        seconds = sum(shot.duration_seconds for scene in plan.scenes for shot in scene.shots)
        with self.preview:
            ui.label(f"{len(plan.scenes)} scenes, {shots} shots, {seconds:g} s").classes("font-semibold").mark(
                "plan-total"
            )
            for n, scene in enumerate(plan.scenes, 1):
                with ui.card().classes("w-full gap-1").props("flat bordered").mark(f"planned-scene-{n}"):
                    ui.label(f"Scene {n}: {scene.title}").classes("font-semibold")
                    where = " · ".join(part for part in (scene.location, scene.time_of_day, scene.mood) if part)
                    ui.label(where).classes("text-sm opacity-80")
                    if scene.description:
                        ui.label(scene.description).classes("text-sm")
                    for m, shot in enumerate(scene.shots, 1):
                        with ui.row().classes("w-full gap-2 no-wrap text-sm").mark(f"planned-shot-{n}-{m}"):
                            ui.label(f"{m}.").classes("w-5 opacity-70")
                            with ui.column().classes("gap-0 min-w-0"):
                                kind = f"{shot.shot_type.replace('_', ' ')} · {shot.camera_angle.replace('_', ' ')}"
                                ui.label(f"{kind} · {shot.duration_seconds:g} s — {shot.description}")
                                ui.label(f"Motion: {shot.motion_prompt}").classes("opacity-70")
                                if shot.characters:
                                    ui.label(f"Characters: {', '.join(shot.characters)}").classes("opacity-70")
                                if shot.dialogue_text:
                                    speaker = shot.speaking_character or "someone"
                                    ui.label(f"{speaker}: “{shot.dialogue_text}”").classes("italic")

    async def add_scenes(self) -> None:
        await self._apply(replace=False, replaced=[])

    async def replace_scenes(self) -> None:
        existing = [s.scene for s in await self.view.studio.scenes.list(self.view.project_id)]
        if existing:
            noun = "scene" if len(existing) == 1 else "scenes"
            message = (
                f"The project's {len(existing)} {noun} are deleted, not destroyed: Undo right after, or restore "
                "any of them later with Show deleted in the scene list."
            )
            if not await confirm(f"Replace {len(existing)} {noun} with the plan?", message, "Replace"):
                return
        await self._apply(replace=True, replaced=existing)

    async def _apply(self, *, replace: bool, replaced: list[Scene]) -> None:
        assert self.plan is not None
        view = self.view
        self.problem.text = ""
        self._actions(False)
        try:
            created = await view.studio.story_planner.apply(
                view.project_id, self.plan, replace=replace, actor=view.actor
            )
        except (Invalid, Conflict, NotFound, ValidationError) as exc:
            self.problem.text = explain(exc)
            self._actions(True)
            await view.reload_list()  # a refusal part way (a generating scene) may have changed some already
            return
        self.dialog.close()
        noun = "scene" if len(created) == 1 else "scenes"
        await view.select(created[0].id if created else None)

        async def undo() -> None:
            problems = []
            for scene in created:
                try:
                    await view.studio.scenes.delete(scene.id, view.actor)
                except (Conflict, NotFound) as exc:
                    problems.append(explain(exc))
            for scene in replaced:
                try:
                    await view.studio.scenes.update(scene.id, SceneChanges(deleted=False), view.actor)
                except (Conflict, NotFound) as exc:
                    problems.append(explain(exc))
            with view.layout:
                if problems:
                    ui.notify("Not all undone: " + "; ".join(problems), type="warning", multi_line=True)
                else:
                    ui.notify(f"Restored the {len(replaced)} earlier scenes", type="info")
            await view.load(replaced[0].id if replaced else None)

        with view.layout:
            if replace:
                offer_undo(f"{len(created)} {noun} from the story replaced {len(replaced)}", undo)
            else:
                ui.notify(f"Added {len(created)} {noun} from the story", type="positive")
