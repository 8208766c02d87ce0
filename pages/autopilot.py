"""Autopilot: switch a project's autonomy on (and, separately, auto-correction and the orchestrator), set each
character's approved-image target, and watch the studio work: the project's and each character's phase, every
phase's gate, the action it is taking or why it waits, overrides (skip, mark complete, reset), the decision log
live, and what the studio has learned (recommended parameters, rejection patterns, drift alerts).

Events only mark what changed; the page reads again on a timer (a busy autopilot logs several decisions a
second, and a tagging or review run decides image after image)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from nicegui import ui
from starlette.requests import Request

from components.autopilot_learned import LearnedPanel
from components.autopilot_log import DecisionLogPanel
from components.autopilot_pipeline import EntityPipeline, OverrideMode, PhaseView, phase_chips, phase_gates, status_line
from components.autopilot_standing import Standing, standing_line, standings
from components.autopilot_switches import AutopilotSwitches
from components.autopilot_targets import TargetsForm
from components.form_errors import explain
from components.project_context import no_project_yet, project_for_page, project_picker
from components.shell import Area, frame, principal_of, studio_page
from services.autonomy import AutonomyDecided, AutopilotChanged, AutopilotView, DriftDetected
from services.autonomy.pipeline import PipelineView
from services.datasets import ImageDecided, ImagesReassigned
from services.errors import StudioError
from services.jobs import JobChanged
from studio.models import Project
from studio.root import Studio

PATH = "/autopilot"
REDRAW_SECONDS = 0.3
# The pipeline (gates count images, scenes and shots) is read again at most this often while things change.
PIPELINE_SECONDS = 1.0
# Learned parameters and patterns are aggregates over the review history: read again at most this often.
LEARNED_SECONDS = 5.0
ORCHESTRATOR_OFF = (
    "The orchestrator is off: nothing below is launched by it, and the phases show where the project would "
    "stand. Switched on, it trains each character's LoRA once the character has enough approved images, then "
    "plans scenes, prepares and renders shots, checks the videos, assembles scenes and the episode and publishes "
    "it, each step only when the step before passed its gate."
)


def register(studio: Studio, areas: Sequence[Area]) -> None:
    @studio_page(PATH)
    async def autopilot_page(request: Request) -> None:
        async with frame(studio, request, "Autopilot", areas) as content:
            project = await project_for_page(studio, request)
            with content:
                with ui.row().classes("w-full items-center gap-3"):
                    await project_picker(studio, project, PATH)
                if project is None:
                    no_project_yet()
                    return
                view = AutopilotPage(studio, project, principal_of(request).name)
                await view.build()
            await view.reload()


class AutopilotPage:
    def __init__(self, studio: Studio, project: Project, actor: str) -> None:
        self.studio, self.project, self.actor = studio, project, actor
        self.project_id: int = project.id  # type: ignore[assignment]
        self.names: dict[int, str] = {}
        self.pipeline_dirty = self.log_dirty = self.learned_dirty = False
        self.pipeline_read = self.learned_read = 0.0  # when last read (time.monotonic)
        self._shown: object = None  # what the pipeline cards show now

    async def build(self) -> None:
        cards = await self.studio.characters.cards(self.project_id)
        self.names = {card.character.id: card.character.name for card in cards}  # type: ignore[misc]
        ui.label("Switches").classes("text-lg font-semibold")
        self.switches = AutopilotSwitches(self.studio, self.project_id, self.actor, self.settings_changed)
        self.targets = TargetsForm(self.studio, self.project_id, self.actor, self.settings_changed)
        ui.label("Pipeline").classes("text-lg font-semibold")
        self.orchestrator_off = ui.label(ORCHESTRATOR_OFF).classes("text-sm opacity-80").mark("orchestrator-off")
        self.project_host = ui.card().classes("w-full gap-2").mark("project-pipeline")
        ui.label("Characters").classes("text-lg font-semibold")
        self.characters_host = ui.column().classes("w-full gap-2").mark("character-pipelines")
        self.log = DecisionLogPanel(self.studio, self.project_id, self.names)
        self.learned = LearnedPanel(self.studio, self.project_id, self.names)
        client = ui.context.client
        client.on_delete(self.studio.events.subscribe(AutonomyDecided, self.decided))
        client.on_delete(self.studio.events.subscribe(AutopilotChanged, self.autopilot_changed))
        client.on_delete(self.studio.events.subscribe(DriftDetected, self.drift_detected))
        client.on_delete(self.studio.events.subscribe(JobChanged, self.job_changed))
        for event in (ImageDecided, ImagesReassigned):
            client.on_delete(self.studio.events.subscribe(event, self.images_changed))
        ui.timer(REDRAW_SECONDS, self.redraw)

    async def reload(self) -> None:
        await self.reload_pipeline()
        await self.log.refresh()
        await self.reload_learned()

    async def reload_pipeline(self) -> None:
        self.pipeline_read = time.monotonic()
        view = await self.studio.autonomy.orchestrator.pipeline(self.project_id)
        cards = await self.studio.characters.cards(self.project_id)
        found = await standings(self.studio, cards, view.autopilot.targets)
        if self.project_host.is_deleted:
            return
        self.names.clear()  # shared with the log and learned panels: one name list for the page
        self.names.update({card.character.id: card.character.name for card in cards})  # type: ignore[misc]
        self.show_settings(view.autopilot)
        self.show_pipeline(view, found)

    async def reload_learned(self) -> None:
        self.learned_read = time.monotonic()
        await self.learned.load()

    def show_settings(self, autopilot: AutopilotView) -> None:
        self.switches.show(autopilot)
        self.targets.show(autopilot, self.names)
        self.orchestrator_off.visible = not autopilot.settings.orchestrator

    def show_pipeline(self, view: PipelineView, found: dict[int, Standing]) -> None:
        # Drawn again only when something shown changed: a redraw replaces the override buttons, and a click
        # landing on a replaced one is lost (a busy autopilot reads the pipeline again every second).
        shown = (
            view.project,
            tuple(view.characters),
            view.autopilot.settings.enabled,
            tuple((cid, s.approved, s.pending, s.target, s.last and s.last.id) for cid, s in sorted(found.items())),
        )
        if shown == self._shown:
            return
        self._shown = shown
        self.project_host.clear()
        with self.project_host:
            ui.label(view.project.name).classes("text-base font-semibold")
            status_line(view.project)
            phase_chips(view.project)
            phase_gates(view.project, self.override)
        self.characters_host.clear()
        with self.characters_host:
            if not view.characters:
                ui.label(f"{self.project.name} has no characters yet.").classes("opacity-70").mark("no-characters")
                ui.link("Create them on the Characters page", f"/characters?project={self.project_id}")
            autonomy_on = view.autopilot.settings.enabled
            for character in view.characters:
                with ui.card().classes("w-full gap-2").mark(f"character-pipeline-{character.entity_id}"):
                    ui.label(character.name).classes("text-base font-semibold")
                    status_line(character)
                    standing = found.get(character.entity_id)
                    if standing is not None:
                        standing_line(character.entity_id, standing, autonomy_on)
                    phase_chips(character)
                    phase_gates(character, self.override)

    # --- actions --------------------------------------------------------------------------------------

    async def settings_changed(self, _view: AutopilotView) -> None:
        await self.reload_pipeline()

    async def override(self, pipeline: EntityPipeline, phase: PhaseView, mode: OverrideMode) -> None:
        try:
            view = await self.studio.autonomy.orchestrator.override(
                self.project_id, pipeline.entity, pipeline.entity_id, phase.phase, mode, self.actor
            )
        except StudioError as exc:
            ui.notify(explain(exc), type="negative", multi_line=True)
            return
        done = {"skip": "skipped", "complete": "marked complete", "reset": "reset"}[mode]
        ui.notify(f"{phase.label} {done} for {pipeline.name}", type="positive")
        self.studio.autonomy.runner.wake()  # the next phase may start at once
        cards = await self.studio.characters.cards(self.project_id)
        self.show_pipeline(view, await standings(self.studio, cards, view.autopilot.targets))

    # --- live updates ---------------------------------------------------------------------------------

    def _ours(self, project_id: int | None, character_id: int | None = None) -> bool:
        return project_id == self.project_id or (character_id is not None and character_id in self.names)

    def decided(self, event: AutonomyDecided) -> None:
        if self._ours(event.project_id, event.character_id):
            self.log_dirty = self.pipeline_dirty = True
            if event.loop == "drift":
                self.learned_dirty = True

    def autopilot_changed(self, event: AutopilotChanged) -> None:
        if event.project_id == self.project_id:
            self.pipeline_dirty = True
            self.pipeline_read = 0.0  # a switch or a pause: show it at the next redraw

    def drift_detected(self, event: DriftDetected) -> None:
        if event.project_id == self.project_id:
            self.learned_dirty = True
            self.learned_read = 0.0

    def job_changed(self, event: JobChanged) -> None:
        if event.project_id == self.project_id:
            self.pipeline_dirty = True

    def images_changed(self, event: object) -> None:
        if getattr(event, "project_id", None) == self.project_id:
            self.pipeline_dirty = self.learned_dirty = True

    async def redraw(self) -> None:
        now = time.monotonic()
        if self.pipeline_dirty and now - self.pipeline_read >= PIPELINE_SECONDS:
            self.pipeline_dirty = False
            await self.reload_pipeline()
        if self.log_dirty:
            self.log_dirty = False
            await self.log.refresh()
        if self.learned_dirty and now - self.learned_read >= LEARNED_SECONDS:
            self.learned_dirty = False
            await self.reload_learned()
