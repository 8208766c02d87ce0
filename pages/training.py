"""Training: each character of a project with its readiness to train a LoRA, a form that starts a run, and the
project's runs followed live (queue place, progress, cancel, retry or continue), each with its loss curve, log and
epoch x prompt samples, each epoch's score and the proposed epoch, to register an epoch from.

Events only mark what changed; the page reads again on a timer, never once per event (a trainer reports several
steps a second)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from nicegui import ui
from starlette.requests import Request

from components.project_context import no_project_yet, project_for_page, project_picker
from components.shell import Area, frame, principal_of, studio_page
from components.training_form import start_run_dialog
from components.training_readiness import Readiness, project_readiness, readiness_row
from components.training_run import RunActions, RunDetail, RunRow
from services.datasets import ImageDecided, ImagesReassigned
from services.errors import NotFound
from services.jobs import JobChanged
from services.tags import ImageTagged, TagsEdited
from services.training import TRAIN_JOB, LoraChanged, TrainingRunChanged, TrainingRunProgressed
from services.training.runs import ACTIVE_STATES
from studio.models import Project, TrainingRun
from studio.root import Studio

PATH = "/training"
REDRAW_SECONDS = 0.3
# Readiness (a few queries per character) is read again at most this often: a tagging job tags image after image.
READINESS_SECONDS = 2.0
# An open run's detail (its run, samples and log) is read again at most this often while the run trains.
DETAIL_SECONDS = 1.0
# The project's runs shown, newest first (older ones stay listed by the REST API).
RUNS_SHOWN = 200


def register(studio: Studio, areas: Sequence[Area]) -> None:
    @studio_page(PATH)
    async def training_page(request: Request) -> None:
        async with frame(studio, request, "Training", areas) as content:
            project = await project_for_page(studio, request)
            with content:
                with ui.row().classes("w-full items-center gap-3"):
                    await project_picker(studio, project, PATH)
                if project is None:
                    no_project_yet()
                    return
                view = TrainingView(studio, project, principal_of(request).name)
                view.build()
            await view.reload()
            await view.open_named(request.query_params.get("run"))


class TrainingView:
    def __init__(self, studio: Studio, project: Project, actor: str) -> None:
        self.studio, self.project, self.actor = studio, project, actor
        self.project_id: int = project.id  # type: ignore[assignment]
        self.rows: dict[int, RunRow] = {}
        self.progress: dict[int, TrainingRunProgressed] = {}
        self.names: dict[int, str] = {}
        self.detail: RunDetail | None = None
        self.runs_dirty = self.readiness_dirty = False
        self.detail_dirty = False
        self.detail_read = 0.0  # when the open detail was last read (time.monotonic)
        self.readiness_read = 0.0  # likewise for the characters' readiness
        self.actions = RunActions(studio, actor, self.open_detail)

    def build(self) -> None:
        ui.label("Characters").classes("text-lg font-semibold")
        self.readiness_host = ui.column().classes("w-full gap-2").mark("readiness")
        ui.label("Training runs").classes("text-lg font-semibold")
        self.runs_host = ui.column().classes("w-full gap-2").mark("runs")
        client = ui.context.client
        client.on_delete(self.studio.events.subscribe(TrainingRunChanged, self.run_changed))
        client.on_delete(self.studio.events.subscribe(TrainingRunProgressed, self.run_progressed))
        client.on_delete(self.studio.events.subscribe(JobChanged, self.job_changed))
        # What changes a character's readiness: decisions, captions (tags), its LoRA.
        for event in (ImageDecided, ImagesReassigned, ImageTagged, TagsEdited):
            client.on_delete(self.studio.events.subscribe(event, self.readiness_changed))
        client.on_delete(self.studio.events.subscribe(LoraChanged, self.lora_changed))
        ui.timer(REDRAW_SECONDS, self.redraw)

    async def reload(self) -> None:
        await self.reload_readiness()
        await self.reload_runs()

    async def reload_readiness(self) -> None:
        self.readiness_read = time.monotonic()
        found = await project_readiness(self.studio, self.project_id)
        if self.readiness_host.is_deleted:
            return
        self.names = {r.character.id: r.character.name for r in found}  # type: ignore[misc]
        self.readiness_host.clear()
        with self.readiness_host:
            if not found:
                ui.label(f"{self.project.name} has no characters yet.").classes("opacity-70").mark("no-characters")
            for readiness in found:
                readiness_row(readiness, self.train)

    async def reload_runs(self) -> None:
        runs = await self.studio.training.list(project_id=self.project_id, limit=RUNS_SHOWN)
        positions = await self.studio.training.queue_positions() if runs else {}
        if self.runs_host.is_deleted:
            return
        self.runs_host.clear()
        self.rows = {}
        with self.runs_host:
            if not runs:
                ui.label("No training runs yet.").classes("opacity-70").mark("no-runs")
            for run in runs:
                name = self.names.get(run.character_id, f"character {run.character_id}")
                self.rows[run.id] = RunRow(run, name, positions.get(run.id), self.actions)  # type: ignore[index]

    # --- actions --------------------------------------------------------------------------------------

    async def train(self, readiness: Readiness) -> None:
        await start_run_dialog(self.studio, readiness, self.actor, self.started)

    async def started(self, run: TrainingRun) -> None:
        ui.notify(f"Training run {run.id} queued", type="positive")
        await self.reload_runs()

    async def open_named(self, run_id: str | None) -> None:
        """Open the run an address names (`?run=<id>`, as the Jobs page links a training job); a run of another
        project or one that is gone opens nothing."""
        if run_id is None or not run_id.isdigit():
            return
        try:
            run = await self.studio.training.get(int(run_id))
            character = await self.studio.characters.get(run.character_id)
        except NotFound:
            return
        if character.project_id == self.project_id:
            await self.open_detail(run)

    async def open_detail(self, run: TrainingRun) -> None:
        self.detail = RunDetail(self.studio, run, self.actor)
        await self.detail.open()

    # --- live updates ---------------------------------------------------------------------------------

    def run_changed(self, event: TrainingRunChanged) -> None:
        self.runs_dirty = True
        if self.detail is not None and event.run_id == self.detail.run_id:
            self.detail_dirty = True

    def job_changed(self, event: JobChanged) -> None:
        # Training jobs being claimed move the queue places of the runs behind them.
        if event.kind == TRAIN_JOB:
            self.runs_dirty = True

    def readiness_changed(self, _event: object) -> None:
        self.readiness_dirty = True

    def lora_changed(self, _event: LoraChanged) -> None:
        # A person registered or switched a LoRA (here or in the editor): show it at the next redraw.
        self.readiness_dirty = True
        self.readiness_read = 0.0

    def run_progressed(self, event: TrainingRunProgressed) -> None:
        self.progress[event.run_id] = event

    async def redraw(self) -> None:
        progress, self.progress = self.progress, {}
        if self.readiness_dirty and time.monotonic() - self.readiness_read >= READINESS_SECONDS:
            self.readiness_dirty = False
            await self.reload_readiness()
        if self.runs_dirty:
            self.runs_dirty = False
            await self.reload_runs()
        for run_id, event in progress.items():
            row = self.rows.get(run_id)
            if row is not None and row.run.state in ACTIVE_STATES:
                row.show(event)
        if self.detail is not None and self.detail.closed:
            self.detail = None
        if self.detail is None:
            return
        # A running run's curve grows with its steps: read it (and the log) again, but not at every redraw.
        stepped = self.detail.run_id in progress and time.monotonic() - self.detail_read >= DETAIL_SECONDS
        if self.detail_dirty or stepped:
            self.detail_dirty = False
            self.detail_read = time.monotonic()
            await self.detail.refresh()
